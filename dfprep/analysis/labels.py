"""Label and family statistics: REAL/FAKE balance and how fakes hang off their originals.

Works on any table with video, part, label, original, split, status (videos.parquet, or the table built from
metadata.json alone), so `--metadata-only` and a full report give the same numbers for this section.
"""
from __future__ import annotations

from collections import Counter

import pyarrow as pa

from dfprep.analysis.summaries import LABELS, label_key, summarize
from dfprep.dataset import Status, table_family_roots

# Statuses under which a listed original cannot serve as the REAL side of a pair.
UNAVAILABLE = (Status.MISSING, Status.ERROR)


def label_stats(videos: pa.Table, top: int = 20, list_cap: int = 200, roots: dict | None = None) -> dict:
    """Counts overall / per part / per split, fakes per original, and the family anomalies. `roots`: the family
    roots of every row (`dataset.table_family_roots`), computed here when not given."""
    rows = videos.select(["video", "part", "label", "original", "split", "status"]).to_pylist()
    labelled = [r for r in rows if r["label"] in LABELS]
    overall = Counter(r["label"] for r in labelled)
    per_part: dict[str, Counter] = {}
    per_split: dict[str, Counter] = {}
    for r in labelled:
        per_part.setdefault(str(r["part"]), Counter())[r["label"]] += 1
        per_split.setdefault(r["split"] or "none", Counter())[r["label"]] += 1
    return {
        "overall": _counts(overall),
        "per_part": {k: _counts(per_part[k]) for k in sorted(per_part, key=int)},
        "per_split": {k: _counts(v) for k, v in sorted(per_split.items())},
        "families": family_stats(labelled, roots if roots is not None else table_family_roots(videos),
                                 top=top, list_cap=list_cap),
    }


def _counts(c: Counter) -> dict:
    real, fake = c.get("REAL", 0), c.get("FAKE", 0)
    return {"REAL": real, "FAKE": fake, "total": real + fake,
            "fake_share": round(fake / (real + fake), 4) if real + fake else None,
            "fakes_per_real": round(fake / real, 3) if real else None}


def family_stats(labelled: list[dict], roots: dict, top: int = 20, list_cap: int = 200) -> dict:
    """Families as `dfprep.dataset.family_roots` defines them (the same ones `dfprep shards` keeps whole).

    An original is a REAL at the root of a family; a FAKE whose chain of originals does not end at a REAL
    entry is listed with the reason (its family is still kept whole by shards).
    """
    reals = {(r["part"], r["video"]): r["status"] for r in labelled if r["label"] == "REAL"}
    fakes = [r for r in labelled if r["label"] == "FAKE"]
    n_fakes = Counter(roots[(r["part"], r["video"])] for r in fakes if roots[(r["part"], r["video"])] in reals)
    per_original = [n_fakes.get(k, 0) for k in reals]
    distribution = Counter(per_original)
    largest = sorted(((n, part, video) for (part, video), n in n_fakes.items()), key=lambda x: (-x[0], x[1], x[2]))
    no_fakes = sorted(k for k in reals if n_fakes.get(k, 0) == 0)
    orphans, unavailable = [], []
    names = {(r["part"], r["video"]) for r in labelled}
    for r in fakes:
        root = roots[(r["part"], r["video"])]
        if root in reals:
            if reals[root] in UNAVAILABLE:
                unavailable.append({"part": r["part"], "video": r["video"], "original": r["original"],
                                    "original_status": reals[root]})
            continue
        if not r["original"]:
            why = "no original named"
        elif root in names:
            why = f"its chain of originals ends at {root[1]!r}, a FAKE with no original"
        else:
            why = f"original {root[1]!r} is not in the data; fakes of it form one family"
        orphans.append({"part": r["part"], "video": r["video"], "original": r["original"],
                        "family": "p{}/{}".format(*root), "reason": why})
    fake_keys = {(r["part"], r["video"]) for r in fakes}
    of_fakes = sum(1 for r in fakes if r["original"] and (r["part"], r["original"]) in fake_keys)
    return {
        "families": len(set(roots.values())),
        "originals": len(reals),
        "fakes_with_original": int(sum(n_fakes.values())),
        "fakes_of_fakes": of_fakes,
        "fakes_per_original": summarize(per_original),
        "fakes_per_original_counts": {str(k): distribution[k] for k in sorted(distribution)},
        "largest": [{"part": p, "original": v, "fakes": n, "original_status": reals[(p, v)]}
                    for n, p, v in largest[:top]],
        "originals_without_fakes": {"count": len(no_fakes),
                                    "videos": [{"part": p, "video": v} for p, v in no_fakes[:list_cap]]},
        "fakes_original_missing": {"count": len(orphans), "videos": orphans[:list_cap]},
        "fakes_original_unavailable": {"count": len(unavailable), "videos": unavailable[:list_cap]},
    }


def label_status_counts(videos: pa.Table) -> dict:
    """{label: {status: count}} over every row; null labels under 'none'."""
    out: dict[str, Counter] = {}
    for lab, st in zip(videos.column("label").to_pylist(), videos.column("status").to_pylist()):
        out.setdefault(label_key(lab), Counter())[st] += 1
    order = [k for k in (*LABELS, "none") if k in out]
    return {k: dict(sorted(out[k].items())) for k in order}

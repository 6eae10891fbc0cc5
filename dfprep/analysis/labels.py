"""Label and family statistics: REAL/FAKE balance and how fakes hang off their originals.

Works on any table with video, part, label, original, split, status (videos.parquet, or the table built from
metadata.json alone), so `--metadata-only` and a full report give the same numbers for this section.
"""
from __future__ import annotations

from collections import Counter

import pyarrow as pa

from dfprep.analysis.summaries import LABELS, label_key, summarize

# Statuses under which a listed original cannot serve as the REAL side of a pair.
UNAVAILABLE = ("missing", "error")


def label_stats(videos: pa.Table, top: int = 20, list_cap: int = 200) -> dict:
    """Counts overall / per part / per split, fakes per original, and the family anomalies."""
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
        "families": family_stats(labelled, top=top, list_cap=list_cap),
    }


def _counts(c: Counter) -> dict:
    real, fake = c.get("REAL", 0), c.get("FAKE", 0)
    return {"REAL": real, "FAKE": fake, "total": real + fake,
            "fake_share": round(fake / (real + fake), 4) if real + fake else None,
            "fakes_per_real": round(fake / real, 3) if real else None}


def family_stats(labelled: list[dict], top: int = 20, list_cap: int = 200) -> dict:
    """A family is one REAL video and the FAKEs whose `original` names it, within one part."""
    reals = {(r["part"], r["video"]): r["status"] for r in labelled if r["label"] == "REAL"}
    fakes = [r for r in labelled if r["label"] == "FAKE"]
    n_fakes = Counter((r["part"], r["original"]) for r in fakes if (r["part"], r["original"]) in reals)
    per_original = [n_fakes.get(k, 0) for k in reals]
    distribution = Counter(per_original)
    largest = sorted(((n, part, video) for (part, video), n in n_fakes.items()), key=lambda x: (-x[0], x[1], x[2]))
    no_fakes = sorted(k for k in reals if n_fakes.get(k, 0) == 0)
    orphans, unavailable = [], []
    reals_anywhere = {v for _, v in reals}
    for r in fakes:
        key = (r["part"], r["original"])
        if key in reals:
            if reals[key] in UNAVAILABLE:
                unavailable.append({"part": r["part"], "video": r["video"], "original": r["original"],
                                    "original_status": reals[key]})
            continue
        if not r["original"]:
            why = "no original named"
        elif r["original"] in reals_anywhere:
            why = "original is a REAL entry of another part"
        else:
            why = "original is not a REAL entry"
        orphans.append({"part": r["part"], "video": r["video"], "original": r["original"], "reason": why})
    return {
        "originals": len(reals),
        "fakes_with_original": int(sum(n_fakes.values())),
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

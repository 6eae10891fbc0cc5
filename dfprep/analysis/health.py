"""Ingest health: how many videos made it, and why the others did not, grouped by reason with their names.

Reasons are grouped after blanking what varies between videos (quoted names, numbers), so 3,000 "original
'x.mp4' is not a REAL entry" warnings read as one line with a count and the list of videos.
"""
from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa

from dfprep.analysis.summaries import label_key

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?")
_PATH = re.compile(r"(?:/[^\s:;,()]+)+")


def reason_key(message: str) -> str:
    """The message with per-video specifics blanked: quoted text -> '…', paths -> <path>, numbers -> N."""
    s = _QUOTED.sub("'…'", message)
    s = _PATH.sub("<path>", s)
    return _NUMBER.sub("N", s).strip()


def health_stats(videos: pa.Table, list_cap: int = 100, problems: list[str] | None = None) -> dict:
    """Counts by status and label, errors and warnings grouped by reason (each with its videos)."""
    t = videos.select(["video", "part", "label", "status", "error", "warning"]).to_pylist()
    has_decoder = "decoder" in videos.schema.names
    by_status = Counter(r["status"] for r in t)
    out = {
        "videos": len(t),
        "by_status": dict(sorted(by_status.items(), key=lambda kv: (-kv[1], kv[0]))),
        "errors": _grouped(t, "error", list_cap),
        "warnings": _grouped(t, "warning", list_cap),
        "problems": list(problems or [])[:list_cap],
        "problems_count": len(problems or []),
    }
    if has_decoder:
        dec = Counter(d for d in videos.column("decoder").to_pylist() if d is not None)
        out["decoders"] = dict(sorted(dec.items()))
    return out


def _grouped(rows: list[dict], field: str, list_cap: int) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        msg = r[field]
        if not msg:
            continue
        for one in (msg.split("; ") if field == "warning" else [msg]):
            groups.setdefault((r["status"], reason_key(one)), []).append(
                {"video": r["video"], "part": r["part"], "label": label_key(r["label"]), "message": one})
    out = []
    for (status, reason), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        out.append({"status": status, "reason": reason, "count": len(members),
                    "by_label": dict(Counter(m["label"] for m in members)),
                    "videos": members[:list_cap]})
    return out

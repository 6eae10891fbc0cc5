"""FakeAVCeleb v1.2: four trees `{Real,Fake}Video-{Real,Fake}Audio/<race>/<gender>/<id>/<file>.mp4` and
`meta_data.csv`, whose picture and audio are labelled apart (`label` is the picture's, `audio_label` the audio's).

meta_data.csv as released has the header `source,target1,target2,method,category,type,race,gender,path,` but
ten cells a row: the cell under `path` is the file name and the unnamed last one its folder
(`FakeAVCeleb/RealVideo-RealAudio/African/men/id00076`). A header naming `filename` is read by name. ROOT holds
the four trees and the CSV, or a `FakeAVCeleb/` folder holding the trees (the CSV in ROOT or beside them);
video names are paths inside ROOT either way.

Labels come from the tree a file is in (FakeVideo -> FAKE picture, FakeAudio -> FAKE audio); a CSV `type`
that disagrees is a warning. Identity `fakeavceleb:<source>` (the person whose video it is); a fake picture's
donor face is `target1`. Original: the RealVideo-RealAudio video of its `source` id whose name its own file
name starts with (`00109_10_id00476_wavtolip.mp4` -> `.../id00076/00109.mp4`), else the only
RealVideo-RealAudio video of that id; none when the CSV lists neither. That holds for a FakeVideo and for a
RealVideo-FakeAudio video too: its picture is REAL (label REAL, audio_label FAKE) and the very picture of its
RealVideo-RealAudio video, so it is in that video's family (`dfprep.dataset.family_roots` follows a REAL's
original) and never lands in another split than its twin. No official split.
"""
from __future__ import annotations


from dfprep.dataset import VIDEO_EXTS, Status, VideoEntry, dataset_part
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.common import DatasetFileError, list_tree, read_text, csv_cells
from dfprep.datasets.registry import register
from dfprep.storage import as_path

META_CSV = "meta_data.csv"
TREES = ("RealVideo-RealAudio", "RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio")
REAL_TREE = TREES[0]
DATASET = "fakeavceleb"


def tree_labels(tree: str) -> tuple[str, str]:
    """(picture label, audio label) of one of the four trees."""
    video, audio = tree.split("-")
    return ("FAKE" if video.startswith("Fake") else "REAL"), ("FAKE" if audio.startswith("Fake") else "REAL")


def read_meta_csv(path) -> list[tuple[int, dict]]:
    """(line, {source, target1, target2, method, type, rel}) of every row; `rel` is the file's path as the CSV
    gives it (folder/file name). DatasetFileError when the file cannot be read or lacks the columns."""
    path = as_path(path)
    text = read_text(path, META_CSV)
    rows = iter(csv_cells(text, path, META_CSV))
    header = [h.strip().lower() for h in next(rows, [])]
    need = ("source", "method", "type", "path")
    if any(n not in header for n in need):
        raise DatasetFileError(f"{path}: {META_CSV} lacks the columns {', '.join(n for n in need if n not in header)}")
    col = {n: header.index(n) for n in header if n}
    out = []
    for n, row in enumerate(rows, start=2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        get = (lambda k: cells[col[k]] if k in col and col[k] < len(cells) else "")
        if "filename" in col:
            rel = f"{get('path').rstrip('/')}/{get('filename')}"
        elif len(cells) > col["path"] + 1 and cells[col["path"] + 1]:      # the released shape: name, folder
            rel = f"{cells[col['path'] + 1].rstrip('/')}/{get('path')}"
        else:
            rel = get("path")
        out.append((n, {"source": get("source"), "target1": get("target1"), "target2": get("target2"),
                        "method": get("method"), "type": get("type"), "rel": rel}))
    return out


def _in_root(rel: str) -> str:
    """The CSV's path made relative to a ROOT holding the four trees (its `FakeAVCeleb/` prefix dropped)."""
    segs = rel.split("/")
    for i, s in enumerate(segs[:3]):
        if s in TREES:
            return "/".join(segs[i:])
    return rel


def _prefix(root) -> str | None:
    """Where the four trees are: "" (in ROOT), "FakeAVCeleb/" (one folder down, as the CSV's paths say), or
    None when neither holds one."""
    for prefix in ("", "FakeAVCeleb/"):
        base = root / prefix.rstrip("/") if prefix else root
        if any((base / t).is_dir() for t in TREES):
            return prefix
    return None


@register
class FakeAVCeleb(Layout):
    name = DATASET
    title = "FakeAVCeleb v1.2"
    reads = f"{META_CSV} and the {{Real,Fake}}Video-{{Real,Fake}}Audio/ trees (picture and audio labels apart)"
    splits = "none official: family or identity groups"
    identities = "source id (the person shown), target1 (a fake picture's donor face)"

    def match(self, root) -> str | None:
        root = as_path(root)
        if not root.is_dir():
            return None
        prefix = _prefix(root)
        if prefix is None:
            return None
        base = root / prefix.rstrip("/") if prefix else root
        trees = [t for t in TREES if (base / t).is_dir()]
        return f"{len(trees)} of the {{Real,Fake}}Video-{{Real,Fake}}Audio trees ({prefix}{trees[0]}/, ...)"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        root = as_path(root)
        prefix = _prefix(root) or ""
        tree = list_tree(root, VIDEO_EXTS, opts.follow_symlinks)
        part = dataset_part(DATASET)
        meta = root / META_CSV
        if prefix and not meta.exists() and (root / prefix.rstrip("/") / META_CSV).exists():
            meta = root / prefix.rstrip("/") / META_CSV
        rows = read_meta_csv(meta)
        problems = list(tree.problems)
        reals_of: dict[str, list[str]] = {}
        for _, r in rows:
            inner = _in_root(r["rel"])
            if inner.startswith(REAL_TREE + "/") and r["source"]:
                reals_of.setdefault(r["source"], []).append(prefix + inner)
        out: list[VideoEntry] = []
        seen: set[str] = set()
        for line, r in rows:
            inner = _in_root(r["rel"])
            where = f"{meta} line {line}"
            if prefix + inner in seen:
                problems.append(f"{where}: {prefix + inner} is listed again; the first row is used")
                continue
            seen.add(prefix + inner)
            out.append(self._entry(tree, prefix, inner, r, part, where, reals_of))
        for rel in tree.files:
            if rel not in seen:
                out.append(VideoEntry(rel, part, dataset=DATASET, status=Status.UNLISTED, path=str(root / rel),
                                      error=f"video file present but not listed in {META_CSV}"))
        out.sort(key=lambda e: e.video)
        return Found(self.name, str(root), "", out, problems)

    @staticmethod
    def _entry(tree, prefix: str, inner: str, r: dict, part: int, where: str, reals_of: dict) -> VideoEntry:
        top, rel = inner.split("/", 1)[0], prefix + inner
        if top not in TREES:
            return VideoEntry(rel if inner else f"{META_CSV}-{where.rsplit(' ', 1)[-1]}", part, dataset=DATASET, status=Status.REJECTED,
                              error=f"{where}: path {r['rel']!r} is in none of the four trees; never opened")
        label, audio = tree_labels(top)
        ident = (lambda v: f"{DATASET}:{v}" if v and v != "-" else None)
        original = None
        if label == "FAKE" or audio == "FAKE":      # a RealVideo-FakeAudio picture is its real video's copy
            cands = reals_of.get(r["source"], [])
            stem = rel.rsplit("/", 1)[-1].split("_", 1)[0]
            same = [c for c in cands if c.rsplit("/", 1)[-1].rsplit(".", 1)[0] == stem]
            original = same[0] if len(same) == 1 else cands[0] if len(cands) == 1 else None
        e = tree.entry(rel, DATASET, part, label=label, audio_label=audio, original=original,
                       method=(r["method"] or None) if (label == "FAKE" or audio == "FAKE") else None,
                       identity=ident(r["source"]),
                       source_identity=ident(r["target1"]) if label == "FAKE" else None)
        if r["type"] and r["type"] != top:
            e.warning = f"{where}: type {r['type']!r} disagrees with its tree {top}; the tree's labels are used"
        if (label == "FAKE" or audio == "FAKE") and original is None:
            msg = f"no {REAL_TREE} video of source {r['source']!r} in {META_CSV}: no original"
            e.warning = f"{e.warning}; {msg}" if e.warning else msg
        return e

"""FaceForensics++'s own tables: the official split (pairs of sequences) and the sequence -> YouTube source map.

Shipped in `dfprep/datasets/data/ffpp/` (MIT, from ondyari/FaceForensics; see its README), or read from a
user's copy of that repository's `dataset/` folder. The split is 360/70/70 pairs [a, b]: sequences a and b and
the fakes a_b and b_a go with their pair (720/140/140 originals). `conversion_dict.json` maps the 1000
sequences to 977 YouTube videos; a YouTube video behind sequences of two splits is one person in both (the
official split's identity leak, `identity_leaks`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from dfprep.dataset import SPLITS
from dfprep.datasets.common import DatasetFileError, read_json_file

SHIPPED = Path(__file__).parent / "data" / "ffpp"
IDENTITY_PREFIX = "ffpp:"           # identities named by FF++'s YouTube sources (DeeperForensics' targets too)


@dataclass(frozen=True)
class FfppTables:
    """The official split and the YouTube source of every sequence ("000" ... "999")."""
    split_of: dict          # sequence -> train / val / test
    pairs: dict             # split -> [(a, b), ...]
    youtube: dict           # sequence -> YouTube video id
    source: str             # where they were read from

    def identity(self, seq: str) -> str | None:
        """The identity a sequence shows: `ffpp:<YouTube id>` (two sequences of one YouTube video are one
        person); None for a sequence the table does not know."""
        yt = self.youtube.get(seq)
        return IDENTITY_PREFIX + yt if yt else None

    def pair_split(self, target: str, source: str) -> str | None:
        """The split of the fake target_source: its pair's when [target, source] (in either order) is an official
        pair, else None (two sequences of one split that are not a pair are no official fake)."""
        for split, pairs in self.pairs.items():
            if (target, source) in pairs or (source, target) in pairs:
                return split
        return None


def _splits_dir(folder: Path) -> Path:
    """A user's FaceForensics checkout, its `dataset/` folder, or its `dataset/splits/` folder."""
    for cand in (folder / "dataset" / "splits", folder / "splits", folder):
        if (cand / "train.json").exists():
            return cand
    raise DatasetFileError(f"{folder}: no FaceForensics split files (train.json, val.json, test.json) found "
                           "there or in dataset/splits/")


def load_tables(folder: Path | None = None) -> FfppTables:
    """The tables from a user's FaceForensics copy (`folder`), or the shipped ones (None)."""
    return _load(str(folder) if folder is not None else None)


@functools.lru_cache(maxsize=4)
def _load(folder: str | None) -> FfppTables:
    split_dir = SHIPPED if folder is None else _splits_dir(Path(folder))
    conv_path = SHIPPED / "conversion_dict.json" if folder is None else next(
        (p for p in (split_dir.parent / "conversion_dict.json", split_dir / "conversion_dict.json") if p.exists()),
        SHIPPED / "conversion_dict.json")
    split_of: dict[str, str] = {}
    pairs: dict[str, list] = {}
    for split in SPLITS:
        path = split_dir / f"{split}.json"
        data = read_json_file(path, "FF++ split file")
        if not isinstance(data, list) or not all(isinstance(p, list) and len(p) == 2 and
                                                 all(isinstance(x, str) for x in p) for p in data):
            raise DatasetFileError(f"{path}: not a list of [a, b] sequence pairs")
        pairs[split] = [tuple(p) for p in data]
        for a, b in data:
            for seq in (a, b):
                if split_of.setdefault(seq, split) != split:
                    raise DatasetFileError(f"{path}: sequence {seq} is in two splits")
    conv = read_json_file(conv_path, "FF++ conversion_dict.json")
    if not isinstance(conv, dict) or not all(isinstance(v, str) and v.split() for v in conv.values()):
        raise DatasetFileError(f"{conv_path}: not a map of sequence -> 'YouTube id segment'")
    youtube = {k: v.split()[0] for k, v in conv.items()}
    return FfppTables(split_of, pairs, youtube, str(split_dir))


def identity_leaks(tables: FfppTables) -> dict[str, list[str]]:
    """{YouTube id: its sequences} for every YouTube video whose sequences sit in more than one official split."""
    by_source: dict[str, list[str]] = {}
    for seq, yt in sorted(tables.youtube.items()):
        by_source.setdefault(yt, []).append(seq)
    return {yt: seqs for yt, seqs in sorted(by_source.items())
            if len({tables.split_of.get(s) for s in seqs} - {None}) > 1}

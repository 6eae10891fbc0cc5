"""Shards settings and the parsing of their text forms (`--split 0.8,0.1,0.1`, `--ratio 1:2`, `--shard-size 256MB`).

Fields that change what is written form the fingerprint that guards resuming; scheduling fields do not.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

from dfprep.dataset import DEFAULT_CLIP_LEN, SPLITS, UNITS, dataset_problem
from dfprep.errors import UsageError
from dfprep.faces.identity import DEFAULT_IDENTITY_THRESHOLD
from dfprep.options import check_declared, opt
from dfprep.ingest.discover import IngestUsageError, parse_parts

DEFAULT_SPLIT = "0.8,0.1,0.1"
BALANCES = ("undersample", "oversample", "none")
AUGMENT_MODES = ("off", "oversampled", "all")
BALANCE_SCOPES = ("overall", "dataset")     # balance each split as a whole, or each dataset within it
OFFICIAL = "official"               # --split official[:fractions]: each video's own `split` column decides
GROUPS = ("family", "identity")     # what a split keeps whole: families, or identity groups of families
SCHEDULING = {"num_cpus", "address", "progress", "use_ray", "allow_partial"}
ACTIONS = {"resplit"}       # what a run may do to an existing SHARDS: not a setting of what is written
# Readers (DataLoader workers x GPUs) each want their own shards; fewer than this in a split starves them.
MIN_SHARDS_PER_SPLIT = 8


class ShardsUsageError(UsageError):
    """A misuse that stops the run before it writes anything (bad option, no face store, foreign OUT)."""


def _augmentations() -> tuple[str, ...]:
    from dfprep.augment import AUGMENTATIONS      # torch: imported when a name is checked, not at --help

    return tuple(sorted(AUGMENTATIONS))


class NothingNew(Exception):
    """A grown SHARDS folder's WORK holds nothing that it does not already have: nothing to write (not an error)."""


@dataclass
class ShardsConfig:
    """Every shards setting, with its CLI help (the `dfprep shards` options are derived from these fields)."""
    split: str = opt("0.8,0.1,0.1", "train,val,test shares of crops, by family (any ratios: 6,2,2 or 6:2:2); "
                                    "`official` (or official:8,1,1): each dataset's official split, the shares "
                                    "for videos of datasets without one.")
    test_datasets: str | None = opt(None, "Datasets held out whole for test, comma-separated (e.g. "
                                          "celebdf-v2,dfd); the rest is split as --split says.")
    val_parts: str | None = opt(None, "DFDC parts for val, e.g. 45-47 (instead of --split).")
    test_parts: str | None = opt(None, "DFDC parts for test, e.g. 48-49.")
    group: str = opt("family", "What a split keeps whole: family, or identity (families whose REAL face "
                               "embeddings are within --identity-threshold: one person).", choices=GROUPS)
    identity_threshold: float = opt(DEFAULT_IDENTITY_THRESHOLD, "Embedding distance linking two tracks with --group identity (dlib's "
                                         "same-person threshold).", min=0, max=2, min_open=True, max_open=True)
    seed: int = opt(0, "Seed of splits, balance, shuffles and augmentation.")
    balance: str = opt("undersample", "undersample, oversample or none (train; val and test too with "
                                      "--balance-eval).", choices=BALANCES)
    ratio: str = opt("1:1", "Target REAL:FAKE, e.g. 1:1 or 1:2.")
    balance_scope: str = opt("overall", "Balance each split as a whole (overall) or each dataset within it "
                                        "(dataset).", choices=BALANCE_SCOPES)
    balance_eval: bool = opt(False, "Balance val and test too (else their natural distribution).")
    augment: str = opt("oversampled", "off, oversampled (repeated copies) or all (train samples).",
                       choices=AUGMENT_MODES)
    augment_ops: tuple[str, ...] = opt(("hflip", "rotate", "brightness", "saturation", "noise", "jpeg",
                                        "downscale"), "Augmentation ops, comma-separated.", choices=_augmentations)
    augment_p: float = opt(0.5, "Probability of each augmentation op.", min=0, max=1)
    unit: str = opt("frame", "frame (one crop per sample) or clip (--clip-len crops of a track).", choices=UNITS)
    clip_len: int = opt(DEFAULT_CLIP_LEN, "Crops per clip with --unit clip.")
    shard_size: str = opt("256MB", "Target shard size.")
    samples_per_shard: int | None = opt(None, "Samples per shard (overrides --shard-size).", min=1)
    jpeg_quality: int = opt(95, "JPEG quality of re-encoded (augmented) crops.", min=1, max=100)
    resplit: bool = opt(False, "When WORK changed under SHARDS (a family would span splits, a video it holds "
                               "changed or is gone): rewrite every shard from WORK as it is now, each family "
                               "keeping its split where it can (recorded in index.json as `resplit`).")
    allow_partial: bool = opt(False, "Cut shards from a WORK whose ingest did not finish (index.json then says "
                                     "partial: true); without it such a WORK is refused.")
    # scheduling
    num_cpus: int | None = opt(None, "CPUs for the embedded local Ray.", min=1)
    address: str | None = opt(None, "Existing Ray cluster address.", envvar="RAY_ADDRESS")
    progress: bool = opt(True, "Progress bar.")
    use_ray: bool = opt(True, "", cli=False)   # False: write the shards one by one in this process (tests)

    def __post_init__(self) -> None:
        self.augment_ops = tuple(self.augment_ops)

    def validate(self) -> None:
        """Parse every text option once so a typo fails before any work, with the option named: the choices and
        bounds declared beside each field (which the CLI checks itself), then the text forms and what depends on
        another field."""
        check_declared(self, ShardsUsageError)
        if self.unit == "clip" and not 1 <= self.clip_len <= 999:
            raise ShardsUsageError(f"--clip-len must be in 1..999, got {self.clip_len}")
        parse_ratio(self.ratio)
        parse_size(self.shard_size)
        parts = self.split_parts()
        if parts is None:
            self.fractions()
        elif self.official():
            raise ShardsUsageError("--split official and --val-parts/--test-parts are two ways to split: use one")
        self.held_out()

    def official(self) -> bool:
        """--split official[:fractions]: each video's official split decides (`dfprep.shards.datasets`)."""
        return self.split.strip().split(":", 1)[0].strip().lower() == OFFICIAL

    def held_out(self) -> tuple[str, ...]:
        """The --test-datasets names, sorted (empty when none)."""
        names = sorted({n.strip() for n in (self.test_datasets or "").split(",") if n.strip()})
        for n in names:
            if (why := dataset_problem(n)):
                raise ShardsUsageError(f"--test-datasets {n!r}: {why}")
        return tuple(names)

    def fractions(self) -> dict[str, float]:
        """The train/val/test shares: of every family, or with --split official of the families of datasets
        without an official split (bare `official`: the default shares)."""
        if self.official():
            rest = self.split.strip().split(":", 1)[1] if ":" in self.split else DEFAULT_SPLIT
            return parse_split(rest)
        return parse_split(self.split)

    def split_parts(self) -> dict[str, set[int]] | None:
        """{'val': parts, 'test': parts} when splitting by DFDC part, else None."""
        if not self.val_parts and not self.test_parts:
            return None
        try:
            val, test = parse_parts(self.val_parts) or set(), parse_parts(self.test_parts) or set()
        except IngestUsageError as exc:
            raise ShardsUsageError(f"--val-parts/--test-parts: {exc}") from None
        if val & test:
            raise ShardsUsageError(f"parts {sorted(val & test)} are in both --val-parts and --test-parts")
        return {"val": val, "test": test}

    def output_settings(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in SCHEDULING | ACTIONS}
        d["augment_ops"] = list(self.augment_ops)
        d["test_datasets"] = ",".join(self.held_out()) or None     # normalised: spacing and order change nothing
        if self.group == "family":      # the threshold changes nothing then: not a reason to refuse a resume
            d.pop("identity_threshold")
        for k, default in (("test_datasets", None), ("balance_scope", "overall")):
            if d[k] == default:         # settings added with datasets: a folder cut before them resumes
                d.pop(k)
        return d

    def fingerprint(self) -> str:
        blob = json.dumps(self.output_settings(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class VerifyConfig:
    """The settings of `dfprep shards verify` (its options are derived from these fields)."""
    workers: int = opt(1, "Shards checked in parallel processes.", min=1)


def parse_split(spec: str) -> dict[str, float]:
    """'0.8,0.1,0.1' or '6:2:2' -> normalized {'train': .., 'val': .., 'test': ..}; two values mean no test."""
    toks = [t for t in re.split(r"[,:/]", spec or "") if t.strip()]
    try:
        vals = [float(t) for t in toks]
    except ValueError:
        raise ShardsUsageError(f"--split {spec!r}: expected numbers like 0.8,0.1,0.1 or 6:2:2") from None
    if not 1 <= len(vals) <= 3 or any(v < 0 for v in vals) or sum(vals) <= 0:
        raise ShardsUsageError(f"--split {spec!r}: expected 1 to 3 non-negative numbers with a positive sum")
    vals += [0.0] * (3 - len(vals))
    total = sum(vals)
    return {name: v / total for name, v in zip(SPLITS, vals)}


def parse_ratio(spec: str) -> tuple[float, float]:
    """'1:2' -> (1.0, 2.0): REAL:FAKE."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", spec or "")
    if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
        raise ShardsUsageError(f"--ratio {spec!r}: expected REAL:FAKE with positive numbers, e.g. 1:1 or 1:2")
    return float(m.group(1)), float(m.group(2))


_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(spec: str) -> int:
    """'256MB' -> 256_000_000 (decimal units; KiB/MiB/GiB binary)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(spec))
    if not m or m.group(2).upper() not in _UNITS or float(m.group(1)) <= 0:
        raise ShardsUsageError(f"--shard-size {spec!r}: expected a size like 256MB, 1GB or 64MiB")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])

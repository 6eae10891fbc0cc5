"""torch and torchvision must be a matching pair; pip cannot hold them together, so the CLI checks at start.

torchvision's compiled ops (torchvision::nms, used by MTCNN) are built against one torch minor release. Recent
torchvision wheels declare only `torch>=X` (0.29.1: `torch>=2.14.0`), so `pip install -U torch` beside dfprep
brings torch 2.15 under torchvision 0.29 and detection fails deep inside ingest with "operator torchvision::nms
does not exist". The check reads both versions from the installed metadata (no torch import: milliseconds)
and refuses a mismatched pair with one line naming both and the match.
"""
from __future__ import annotations

import re
from importlib import metadata

# torch minor -> torchvision minor, as every torchvision release's own metadata pins it (0.15.2 requires
# torch==2.0.1 ... 0.24.1 torch==2.9.1, 0.29.0 torch==2.14.0): torchvision's minor is torch's plus 15.
PAIRS: dict[tuple[int, int], tuple[int, int]] = {(2, m): (0, m + 15) for m in range(0, 15)}
TESTED = ("2.14.1", "0.29.1")        # the pair dfprep's suite runs on (pyproject.toml pins it)
_MINOR = re.compile(r"(\d+)\.(\d+)")


def _minor(version: str) -> tuple[int, int] | None:
    m = _MINOR.match(version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _dotted(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def pair_problem(torch_version: str | None, vision_version: str | None) -> str | None:
    """One line when the two versions cannot work together, else None.

    None also when either is not installed (its import error says so) or when neither version is in `PAIRS`
    (both newer than this table: no claim either way)."""
    if not torch_version or not vision_version:
        return None
    t, v = _minor(torch_version), _minor(vision_version)
    if t is None or v is None:
        return None
    if t in PAIRS:
        if PAIRS[t] == v:
            return None
        need = f"torch {_dotted(t)} needs torchvision {_dotted(PAIRS[t])}.*"
    else:
        vision_for = {b: a for a, b in PAIRS.items()}
        if v not in vision_for:
            return None
        need = f"torchvision {_dotted(v)} is built for torch {_dotted(vision_for[v])}.*"
    return (f"torch {torch_version} and torchvision {vision_version} do not match ({need}); install a matching "
            f"pair, e.g. the tested one: pip install torch=={TESTED[0]} torchvision=={TESTED[1]}")


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_pair_problem() -> str | None:
    """`pair_problem` of the torch and torchvision installed beside dfprep."""
    return pair_problem(installed("torch"), installed("torchvision"))


def refuse_mismatched_pair() -> None:
    """At the start of a command: a mismatched pair is one line on stderr and exit 2 (a usage problem of the
    environment, before any work)."""
    problem = installed_pair_problem()
    if problem:
        import sys

        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)

"""What every dataset layout is: a class that recognises its folder and turns it into typed video records.

A layout (one module per dataset, registered by name in `dfprep.datasets.registry`) says whether a ROOT looks
like it (`match`: the evidence, a short phrase, or None) and lists it (`discover`): one `VideoEntry` per video
file or listed entry, with every field the dataset's own files can name (label, original, method,
compression, identities, official split, mask), and the problems found (one line each, naming the file). No
video is opened here; the ingest stages do that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from dfprep.dataset import VideoEntry
from dfprep.errors import UsageError


class LayoutError(UsageError):
    """A ROOT that no layout (or more than one) recognises, or a layout given a ROOT it cannot read: one line
    naming the folder and what was looked for (exit 2, nothing written)."""


@dataclass(frozen=True)
class DiscoverOptions:
    """The selections ingest hands a layout: DFDC's `--parts`, FF++'s `--compression` and `--ffpp-splits` (a
    user's FaceForensics copy; None: the shipped tables), `--follow-symlinks`, and the other ROOTs of the run
    (a layout whose reals live in another dataset pairs with them)."""
    parts: frozenset[int] | None = None
    compression: str | None = None
    follow_symlinks: bool = False
    other_roots: tuple = ()
    ffpp_splits: str | None = None


@dataclass
class Found:
    """What one layout found under one ROOT."""
    layout: str                         # the registry name of the layout that read it
    root: str                           # the ROOT as given (a path or a URI)
    evidence: str                       # what identified the layout (`--dataset auto`'s reason), or "given"
    entries: list[VideoEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def datasets(self) -> list[str]:
        """The dataset names of its entries (one layout may hold several: an FF++ tree holds ffpp and dfd)."""
        return sorted({e.dataset for e in self.entries})

    @property
    def parts(self) -> list[int]:
        """The WORK parts of its entries: what this ROOT owns in WORK (one ROOT per part)."""
        return sorted({e.part for e in self.entries})

    def describe(self) -> str:
        counts = {d: sum(e.dataset == d for e in self.entries) for d in self.datasets}
        what = ", ".join(f"{d} ({n} videos)" for d, n in counts.items()) or "no videos"
        return f"{self.root}: {self.layout} layout ({self.evidence}): {what}"


class Layout:
    """A dataset layout. Subclasses set `name`, `title` and `reads`, and implement `match` and `discover`."""
    name: ClassVar[str]                 # registry name, what `--dataset` takes (e.g. "ffpp")
    title: ClassVar[str]                # the dataset's name for people (README's Datasets table)
    reads: ClassVar[str] = ""           # what dfprep reads of it (README's Datasets table)
    splits: ClassVar[str] = ""          # its official splits, as dfprep applies them
    identities: ClassVar[str] = ""      # the identities its names give
    auto: ClassVar[bool] = True         # recognised by `--dataset auto` (the manifest layout is, by its file)

    def match(self, root) -> str | None:
        """The evidence that ROOT is this layout (e.g. "original_sequences/youtube/c23/videos"), or None."""
        raise NotImplementedError

    def discover(self, root, opts: DiscoverOptions) -> Found:
        """Every video of ROOT as a VideoEntry (status pending, or why it cannot be used) and the problems."""
        raise NotImplementedError

    def link(self, found: Found, others: list[Found], known: set[str]) -> list[str]:
        """After every ROOT of a run is discovered: settle what this layout's videos take from other datasets
        (`others`: the run's other finds; `known`: the `video` names WORK already holds). Returns problems."""
        return []

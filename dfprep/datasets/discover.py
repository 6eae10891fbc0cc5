"""Every ROOT of an ingest through its layout: the entries of all of them, the problems, and what was found.

ROOTs are discovered one by one (`--dataset auto` says which layout each is), then each layout links what it
takes from the others (DeeperForensics' reals are FF++'s), then the WORK partition is checked: one dataset
comes from one ROOT, and no two datasets share a part number.
"""
from __future__ import annotations

from dataclasses import replace

from dfprep.dataset import VideoEntry, is_dfdc_part
from dfprep.datasets.base import DiscoverOptions, Found, LayoutError
from dfprep.datasets.registry import AUTO, choose_layout


def discover_roots(roots: list, dataset: str = AUTO, opts: DiscoverOptions | None = None,
                   known: set[str] | None = None) -> tuple[list[Found], list[VideoEntry], list[str]]:
    """(a Found per ROOT, every entry sorted by (part, video), every problem). `known`: the video names WORK
    already holds (a layout links to them as to the other ROOTs)."""
    opts = opts or DiscoverOptions()
    finds: list[Found] = []
    for root in roots:
        layout, evidence = choose_layout(root, dataset)
        f = layout.discover(root, replace(opts, other_roots=tuple(r for r in roots if r is not root)))
        f.evidence = f.evidence or evidence
        finds.append(f)
    from dfprep.datasets.registry import LAYOUTS

    for f in finds:
        f.problems += LAYOUTS[f.layout]().link(f, [o for o in finds if o is not f], known or set())
    entries = [e for f in finds for e in f.entries]
    check_parts(finds)
    entries.sort(key=lambda e: (e.part, e.video, e.status.value))
    problems = [p for f in finds for p in f.problems]
    return finds, entries, problems


def check_parts(finds: list[Found]) -> None:
    """Each WORK part from one ROOT (DFDC parts from several ROOTs are fine, each part from one), and one dataset
    per part: LayoutError naming both otherwise."""
    root_of: dict[int, str] = {}
    dataset_of: dict[int, str] = {}
    for f in finds:
        for e in f.entries:
            was = root_of.setdefault(e.part, f.root)
            if was != f.root:
                what = f"DFDC part {e.part}" if is_dfdc_part(e.part) else f"dataset {e.dataset}"
                raise LayoutError(f"{what} is found in two ROOTs ({was} and {f.root}); give each once")
            other = dataset_of.setdefault(e.part, e.dataset)
            if other != e.dataset:
                raise LayoutError(f"datasets {other} and {e.dataset} share WORK part {e.part}; rename one "
                                  "(a manifest's `dataset` column)")


def roots_record(finds: list[Found]) -> list[dict]:
    """What run.json records of each ROOT: {root, layout, evidence (why auto chose it, or "given"), datasets,
    parts}."""
    return [{"root": f.root, "layout": f.layout, "evidence": f.evidence, "datasets": f.datasets, "parts": f.parts}
            for f in finds]

"""`dfprep synth --layout NAME`: a small corpus in each dataset's own layout (real H.264 files, the dataset's
name patterns and side files), so every adapter of `dfprep.datasets` is tested end to end.

`base`: the shared pool, placement, rendering and synth.json truth. One module per layout; `WRITERS` maps
`--layout` names to their `write(out, cfg) -> LayoutCorpus` (the DFDC layout is `dfprep.synth.corpus`).
"""
from __future__ import annotations

from typing import Callable

WRITERS: dict[str, Callable] = {}


def layout_writer(name: str):
    """Decorator: register `write(out, cfg)` as the writer of `--layout name`."""
    def deco(fn):
        WRITERS[name] = fn
        return fn
    return deco


def layout_names() -> tuple[str, ...]:
    import importlib

    importlib.import_module("dfprep.synth.layouts._all")      # registers every writer

    return ("dfdc", *sorted(WRITERS))

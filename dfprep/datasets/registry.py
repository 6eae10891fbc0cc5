"""Layouts by name (`--dataset NAME`), and `--dataset auto`: the one layout whose evidence a ROOT shows."""
from __future__ import annotations

from dfprep.datasets.base import Layout, LayoutError

LAYOUTS: dict[str, type[Layout]] = {}
AUTO = "auto"


def register(cls: type[Layout]) -> type[Layout]:
    """Class decorator: make a layout selectable by its `name`."""
    if cls.name in LAYOUTS:
        raise ValueError(f"layout {cls.name!r} registered twice")
    LAYOUTS[cls.name] = cls
    return cls


def _register_all() -> None:
    """Import every layout module (each registers itself) on first use, not at import: registry is imported
    by them."""
    import importlib

    importlib.import_module("dfprep.datasets")


def layout_names() -> tuple[str, ...]:
    """`--dataset`'s choices: auto, then every registered layout."""
    _register_all()

    return (AUTO, *sorted(LAYOUTS))


def choose_layout(root, name: str = AUTO) -> tuple[Layout, str]:
    """(layout, evidence) for ROOT: the named one, or with `auto` the one layout that recognises it. LayoutError
    naming ROOT and what was looked for when none (or several) does."""
    _register_all()

    from dfprep.storage import as_path

    root = as_path(root)
    if not root.is_dir():
        if root.name.lower().endswith((".csv", ".jsonl")) and root.exists() and name in (AUTO, "manifest"):
            return LAYOUTS["manifest"](), f"manifest file {root.name}"     # a manifest given as ROOT
        raise LayoutError(f"ROOT {root} does not exist or is not a folder (nor a .csv/.jsonl manifest)")
    if name != AUTO:
        if name not in LAYOUTS:
            raise LayoutError(f"--dataset {name!r} is not a known layout; choose one of {', '.join(layout_names())}")
        return LAYOUTS[name](), "given"
    hits = []
    for n, cls in sorted(LAYOUTS.items()):
        if not cls.auto:
            continue
        evidence = cls().match(root)
        if evidence:
            hits.append((n, evidence))
    if len(hits) == 1:
        return LAYOUTS[hits[0][0]](), hits[0][1]
    if not hits:
        looked = "; ".join(f"{n}: {cls.reads or cls.title}" for n, cls in sorted(LAYOUTS.items()) if cls.auto)
        raise LayoutError(f"ROOT {root} matches no dataset layout (looked for {looked}); "
                          "give --dataset NAME, or a manifest (--dataset manifest)")
    both = ", ".join(f"{n} ({e})" for n, e in hits)
    raise LayoutError(f"ROOT {root} matches several dataset layouts: {both}; give --dataset NAME")

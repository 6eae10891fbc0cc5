"""`dfprep synth OUT`: write a synthetic DFDC-layout corpus (thin wrapper over `make_corpus`)."""
from __future__ import annotations

from dfprep.options import StoragePath, argument, command, option
from dfprep.synth.config import SynthConfig, SynthUsageError


def _synth(cfg: SynthConfig, out, hostile: bool) -> None:
    """Write a synthetic DFDC-layout corpus: real photographed faces, face-swapped fakes, H.264 + AAC mp4."""
    import time

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from dfprep.storage import is_remote
    from dfprep.synth.corpus import make_corpus
    from dfprep.synth.hostile import add_hostile_files

    if hostile and is_remote(out):
        raise SynthUsageError(f"--hostile writes FIFOs and symlinks: give a local folder, not {out}")
    console = Console()
    t0 = time.perf_counter()
    if cfg.layout != "dfdc":
        _synth_layout(console, cfg, out, hostile)
        return
    summary = make_corpus(out, cfg)
    table = Table(title=f"synth corpus (seed {cfg.seed})", box=box.SIMPLE, padding=(0, 1))
    table.add_column("part", no_wrap=True)
    for col in ("REAL", "FAKE", "2-face", "0-face", "portrait", "no-audio", "hostile"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for name, part in summary.parts.items():
        n_hostile = len(add_hostile_files(out / name, seed=cfg.seed)) if hostile else 0
        table.add_row(name.rsplit("_", 1)[-1], str(part.counts["REAL"]), str(part.counts["FAKE"]),
                      str(len(part.multi_face)), str(len(part.no_face)), str(len(part.portrait)),
                      str(len(part.no_audio)), str(n_hostile))
    console.print(table)
    console.print(f"wrote {out if is_remote(out) else out.resolve()} in {time.perf_counter() - t0:.1f}s "
                  f"(summary: {out / 'synth.json'})")


def _synth_layout(console, cfg: SynthConfig, out, hostile: bool) -> None:
    """Another dataset's layout (`dfprep.synth.layouts`): a table of its files by dataset and label."""
    import time
    from collections import Counter

    from dfprep.storage import is_remote
    from dfprep.synth.layouts import WRITERS, layout_names

    layout_names()
    if is_remote(out) or hostile:
        raise SynthUsageError(f"--layout {cfg.layout} writes a local folder without --hostile; got {out}"
                              f"{' with --hostile' if hostile else ''}")
    cfg.validate()
    t0 = time.perf_counter()
    corpus = WRITERS[cfg.layout](out, cfg)
    counts = Counter((v["dataset"], v["label"]) for v in corpus.videos.values())
    for (d, label), n in sorted(counts.items()):
        console.print(f"{d:>16} {label:<5} {n}")
    console.print(f"wrote {cfg.layout} layout at {out.resolve()} in {time.perf_counter() - t0:.1f}s "
                  f"(truth: {out / 'synth.json'})")


synth_command = command(SynthConfig, _synth, leading=[
    argument("out", StoragePath, "Output folder; parts go to OUT/dfdc_train_part_N.")],
    trailing=[option("hostile", bool, False, "--hostile",
                     help="Also add broken/hostile entries to each part (ingest tests).")])

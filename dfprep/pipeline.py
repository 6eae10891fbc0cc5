"""`dfprep demo OUT`: the whole pipeline on a synthetic corpus with embedded local Ray, as far as it exists.

synth -> ingest -> analyze -> shards -> train -> predict. Each step is the same library function its own
command calls; the demo only chooses small settings that finish in minutes on 2 CPU cores.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console


def run_demo(out: Path, videos: int = 24, parts: int = 2, seed: int = 0, console: Console | None = None) -> dict:
    console = console or Console()
    out = Path(out)
    outputs: dict[str, str] = {}

    from dfprep.synth import SynthConfig, make_corpus

    root = out / "corpus"
    if not (root / "synth.json").exists():
        console.rule("1. synth: a DFDC-layout corpus")
        make_corpus(root, SynthConfig(parts=parts, videos=videos, duration=2.0, fps=15, seed=seed))
    outputs["corpus"] = str(root)

    console.rule("2. ingest: probe, decode, faces on Ray")
    from dfprep.ingest.cli import print_summary
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = out / "work"
    summary = ingest(root, work, IngestConfig(frames=16))
    print_summary(console, summary)
    outputs.update({"videos": summary["outputs"]["videos"], "faces": summary["outputs"]["faces"],
                    "ingest run": summary["outputs"]["run"]})

    console.rule("dfprep demo: outputs")
    for k, v in outputs.items():
        console.print(f"{k:>12}: {v}")
    return outputs

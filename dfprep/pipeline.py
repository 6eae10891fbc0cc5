"""`dfprep demo OUT`: the whole pipeline on a synthetic corpus with embedded local Ray.

synth -> ingest -> shards -> analyze (the report, with identity leakage between the shards' splits) -> train ->
predict (+ evaluate) on a held-out part. Each step is the same library function its own command calls; the demo
only chooses small settings that finish in minutes on 2 CPU cores, and prints where every output is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from dfprep.options import opt


@dataclass
class DemoConfig:
    """`dfprep demo` settings (its options are derived from these fields); names are `run_demo`'s arguments."""
    videos: int = opt(40, "Videos per part.", min=1)
    parts: int = opt(2, "DFDC-layout parts.", min=1)
    seed: int = opt(0, "Seed of the corpus, the splits and training.")
    epochs: int = opt(4, "Training epochs.", min=1)


def run_demo(out: Path, videos: int = 40, parts: int = 2, seed: int = 0, epochs: int = 4,
             console: Console | None = None) -> dict:
    console = console or Console()
    out = Path(out)
    outputs: dict[str, str] = {}

    from dfprep.synth import SynthConfig, make_corpus

    root, heldout = out / "corpus", out / "heldout"
    console.rule("1. synth: a DFDC-layout corpus, and a held-out part to predict")
    if not (root / "synth.json").exists():
        make_corpus(root, SynthConfig(parts=parts, videos=videos, duration=1.5, fps=10, seed=seed))
    if not (heldout / "synth.json").exists():
        make_corpus(heldout, SynthConfig(parts=1, start_part=parts, videos=12, duration=1.5, fps=10,
                                         seed=seed + 1000))
    outputs.update(corpus=str(root), heldout=str(heldout / f"dfdc_train_part_{parts}"))

    console.rule("2. ingest: probe, decode, faces on embedded Ray")
    from dfprep.ingest.cli import print_summary
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = out / "work"
    summary = ingest(root, work, IngestConfig(frames=8))
    print_summary(console, summary)
    outputs.update(videos=summary.outputs["videos"], faces=summary.outputs["faces"],
                   ingest_run=summary.outputs["run"])

    console.rule("3. shards: balanced, leak-free WebDataset shards")
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards

    shards = out / "shards"
    made = make_shards(work, shards, ShardsConfig(split="0.7,0.15,0.15", samples_per_shard=32, seed=seed,
                                                  progress=False))
    for sp in made.splits:
        console.print(f"  {sp.name:5}: {sp.samples} samples ({sp.real} REAL / {sp.fake} FAKE), {sp.shards} shards")
    from dfprep.formats.shards import INDEX

    outputs.update(shards=str(shards / INDEX))

    # After the shards, so that the report's identity section checks their splits for identity leakage.
    console.rule("4. analyze: the EDA report, with identity leakage between the shards' splits")
    from dfprep.analysis.run import analyze

    report = analyze(work, shards=shards)
    leak = report.get("identity", {}).get("leakage") or {}
    console.print(f"  identity leakage: {leak.get('leaking_clusters', 0)} of {leak.get('clusters_in_shards', 0)} "
                  f"identity clusters have videos in more than one split")
    outputs.update(report=report["outputs"]["html"], stats=report["outputs"]["stats"])

    console.rule("5. train: a compact detector streamed from the shards")
    from dfprep.train.config import TrainConfig
    from dfprep.formats.run import METRICS, read_metrics
    from dfprep.train.run import train

    run = out / "run"
    done = read_metrics(run)
    if done is not None and done.status == "complete":
        console.print(f"  {run} already trained")
    else:
        train(shards, run, TrainConfig(model="smallcnn", input_size=112, epochs=epochs, batch_size=16, lr=2e-3,
                                       workers=1, seed=seed, progress=False))
    outputs.update(run=str(run), metrics=str(run / METRICS))

    console.rule("6. predict + evaluate: a DFDC submission for the held-out part")
    from dfprep.inference.evaluate import evaluate_submission
    from dfprep.inference.predict import predict

    sub = out / "submission.csv"
    predict(run, heldout / f"dfdc_train_part_{parts}", sub, frames=8)
    scores = evaluate_submission(sub, heldout)
    m = scores.metrics
    console.print(f"  held-out videos: {m.get('n')}, log loss {m.get('log_loss'):.3f}, "
                  f"ROC AUC {m.get('roc_auc') if m.get('roc_auc') is None else round(m['roc_auc'], 3)}, "
                  f"accuracy {m.get('accuracy'):.3f}")
    outputs.update(submission=str(sub))

    console.rule("dfprep demo: outputs")
    for k, v in outputs.items():
        console.print(f"{k:>12}: {v}")
    return outputs

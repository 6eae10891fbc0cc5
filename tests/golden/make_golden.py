"""Write tests/golden/v1: a corpus, the WORK and SHARDS dfprep made of it, and the sha256 of every output that
must not change for the same settings (`tests/test_golden.py` reads them). Run once, by the dfprep whose outputs
are the reference (v1: main at 06599c1, before the typed-contracts change):

    .venv/bin/python tests/golden/make_golden.py tests/golden/v1

The RUN is not kept (its checkpoints are megabytes); model.pt's hash is.

A deliberate change of an output format records the new hashes of the same corpus beside v1 (v1 is never
regenerated: its WORK and SHARDS are the files an older dfprep wrote, which the new one must still read):

    .venv/bin/python tests/golden/make_golden.py --hashes-only tests/golden/v2

(v2: issue 24 added the dataset and description columns to videos.parquet and faces.parquet, and dataset and
method to every sample.)
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

SYNTH = dict(parts=2, videos=6, duration=1.0, fps=10, seed=0)
INGEST = dict(frames=8, num_cpus=2, progress=False)
SHARDS = dict(progress=False)
TRAIN = dict(epochs=1, seed=0, model="smallcnn", progress=False)
# Files written the same for the same inputs and settings (run.json, _state.json, _inputs/, timeline.jsonl and
# RUN's logs hold times and absolute paths; index.json holds WORK's path, compared apart).
STABLE = ("work/videos.parquet/", "work/faces.parquet/", "work/_batches/", "shards/train-", "shards/val-",
          "shards/test-", "shards/families.parquet", "shards/wids-", "run/model.pt", "run/metrics.csv",
          "run/steps.csv", "run/val_predictions.csv")


def stable_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel.startswith(STABLE):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def build(root: Path, corpus: Path | None = None) -> None:
    """corpus (made by synth unless given), then work, shards and run under `root`."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards
    from dfprep.synth import SynthConfig, make_corpus
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    if corpus is None:
        corpus = root / "corpus"
        make_corpus(corpus, SynthConfig(**SYNTH))
    ingest(corpus, root / "work", IngestConfig(**INGEST))
    make_shards(root / "work", root / "shards", ShardsConfig(**SHARDS))
    train(root / "shards", root / "run", TrainConfig(**TRAIN))


def main(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        hashes = stable_hashes(root)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for name in ("corpus", "work", "shards"):
            shutil.copytree(root / name, dest / name)
        (dest / "shards" / "index.json").write_text(
            (root / "shards" / "index.json").read_text().replace(str(root), "GOLDEN"))
    (dest / "hashes.json").write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")


def hashes_only(dest: Path) -> None:
    """The stable hashes of the v1 corpus put through this dfprep, as dest/hashes.json (nothing else kept)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, corpus=Path(__file__).parent / "v1" / "corpus")
        hashes = stable_hashes(root)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "hashes.json").write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--hashes-only":
        hashes_only(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]))

"""Issue 24 end to end: FF++ trains, Celeb-DF and UADFV are held out whole and scored, and every number of the
cross-dataset matrix equals scikit-learn's on the same predictions. Three synthetic layouts (real H.264 files in
each dataset's own names), real MTCNN faces, real shards read back, a real (tiny) model."""
from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, log_loss, roc_auc_score

from layout_util import synth_layout

pytestmark = pytest.mark.slow


def _csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _close(got, want) -> bool:
    return got not in ("", None) and abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))


def test_trained_on_ffpp_scored_on_celebdf_and_uadfv(tmp_path):
    from dfprep.formats.work.videos import read_videos
    from dfprep.inference.runeval import evaluate_run
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    size = dict(size="240x180")
    truth = {"ffpp": synth_layout(tmp_path / "ff", "ffpp", videos=8, **size),
             "celebdf-v2": synth_layout(tmp_path / "celebdf", "celebdf", videos=7, **size),
             "uadfv": synth_layout(tmp_path / "uadfv", "uadfv", videos=6, **size)}
    work = tmp_path / "work"
    run = ingest([tmp_path / "ff", tmp_path / "celebdf", tmp_path / "uadfv"], work,
                 IngestConfig(frames=4, identity=False, num_cpus=2, progress=False))
    assert [r["layout"] for r in run.roots] == ["ffpp", "celebdf", "uadfv"]
    rows = read_videos(work).to_pylist()
    assert {r["dataset"] for r in rows} == {"ffpp", "dfd", "celebdf-v2", "uadfv"}
    for dataset, files in truth.items():
        got = {r["video"]: r for r in rows if r["dataset"] == dataset}
        want = {rel: t for rel, t in files.items() if t["dataset"] == dataset}
        assert set(got) == set(want), dataset
        assert all(got[v]["label"] == t["label"] and got[v]["original"] == t["original"] for v, t in want.items())

    shards = tmp_path / "shards"
    make_shards(work, shards, ShardsConfig(split="official", test_datasets="celebdf-v2,uadfv", progress=False))
    index = json.loads((shards / "index.json").read_text())
    held = {d: index["datasets"][d] for d in ("celebdf-v2", "uadfv")}
    assert all(set(splits) == {"test"} for splits in held.values()), held       # held out whole

    train(shards, tmp_path / "run", TrainConfig(epochs=1, seed=0, model="smallcnn", progress=False))
    summary = evaluate_run(tmp_path / "run")
    preds = _csv(tmp_path / "run" / "matrix_predictions.csv")
    matrix = {(r["dataset"], r["method"]): r for r in _csv(tmp_path / "run" / "matrix.csv")}
    assert {"celebdf-v2", "uadfv"} <= {d for d, _ in matrix} and ("all", "") in matrix
    assert len(preds) == summary.samples > 0

    def members(dataset: str, method: str) -> list[dict]:
        if dataset == "all":
            return preds
        mine = [p for p in preds if p["dataset"] == dataset]
        return mine if not method else [p for p in mine if p["label"] == "0" or p["method"] == method]

    # training's own per-video files name a non-DFDC video <dataset>/<path>: the same videos the matrix scored
    tested = {r["video"] for r in _csv(tmp_path / "run" / "test_predictions.csv")}
    assert tested == {f"{p['dataset']}/{p['video']}" for p in preds}

    checked = 0
    for (dataset, method), row in matrix.items():
        ps = members(dataset, method)
        y = np.array([int(p["label"]) for p in ps])
        prob = np.array([float(p["prob"]) for p in ps])
        assert int(row["frames"]) == len(ps)
        assert _close(row["frame_accuracy"], accuracy_score(y, prob >= 0.5))
        assert _close(row["frame_log_loss"], log_loss(y, prob, labels=[0, 1]))
        if len(set(y)) < 2:
            assert row["frame_auc"] == "" and row["note"], row
            continue
        assert _close(row["frame_auc"], roc_auc_score(y, prob)) and _close(row["frame_ap"],
                                                                           average_precision_score(y, prob))
        per_video = defaultdict(list)
        for p in ps:
            per_video[(p["dataset"], p["part"], p["video"])].append((int(p["label"]), float(p["prob"])))
        vy = np.array([v[0][0] for v in per_video.values()])
        vp = np.array([np.mean([q for _, q in v]) for v in per_video.values()])
        assert int(row["videos"]) == len(per_video)
        if len(set(vy)) == 2:
            assert _close(row["video_mean_auc"], roc_auc_score(vy, vp))
        checked += 1
    assert checked >= 2

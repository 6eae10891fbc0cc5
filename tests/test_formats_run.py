"""dfprep.formats.run: RUN's typed readers on a RUN made here (the conftest `tiny_run`, read only), their
one-line refusals, and writer/reader round trips."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from dfprep.errors import exit_code
from dfprep.formats import run as rf
from dfprep.formats.run import RunError


@pytest.fixture
def run(tiny_run, tmp_path) -> Path:
    """A copy of `tiny_run` that a test may change."""
    shutil.copytree(tiny_run, tmp_path / "run")
    return tmp_path / "run"


def _edit_config(run: Path, edit) -> Path:
    path = run / rf.CONFIG
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    return path


def test_config_reader_on_a_run(tiny_run):
    cfg = rf.read_run_config(tiny_run)
    assert (cfg.path, cfg.model, cfg.unit, cfg.input_size) == (tiny_run / rf.CONFIG, "smallcnn", "frame", 64)
    assert cfg.clip_len is None and cfg.rnn is None and cfg.ingest is None and cfg.video_agg is None
    assert cfg["model"] == "smallcnn" and dict(cfg.raw) == json.loads((tiny_run / rf.CONFIG).read_text())


def test_a_clip_config_with_recorded_ingest(run, tiny_run):
    from dfprep.formats.work.runjson import read_run_json

    golden = read_run_json(Path(__file__).parent / "golden" / "v1" / "work").recorded()
    _edit_config(run, lambda c: c.update(unit="clip", clip_len=4, rnn="gru", video_agg="max",
                                         ingest={"settings": golden.settings.as_dict(),
                                                 "fingerprint": golden.fingerprint}))
    cfg = rf.read_run_config(run)
    assert (cfg.unit, cfg.clip_len, cfg.rnn, cfg.video_agg) == ("clip", 4, "gru", "max") and cfg.ingest == golden


@pytest.mark.parametrize("edit, key", [
    (lambda c: c.pop("input_size"), "key 'input_size' is missing"),
    (lambda c: c.update(input_size="64"), "key 'input_size' must be an integer"),
    (lambda c: c.update(unit="video"), "key 'unit' must be frame or clip"),
    (lambda c: c.update(unit="clip"), "key 'clip_len' is null"),
    (lambda c: c.update(unit="clip", clip_len=4), "key 'rnn' is missing"),
    (lambda c: c.update(ingest={"settings": {}, "fingerprint": "x"}), "key 'ingest.settings."),
])
def test_a_bad_config_is_one_line_naming_the_key(run, edit, key):
    path = _edit_config(run, edit)
    with pytest.raises(RunError) as err:
        rf.read_run_config(run)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{path}: ") and key in text and exit_code(err.value) == 2


def test_a_missing_config_or_model(tmp_path):
    with pytest.raises(RunError, match="config.json: not found") as err:
        rf.read_run_config(tmp_path)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(RunError, match="model.pt: not found"):
        rf.read_model_state(tmp_path)


def test_model_state_round_trip_is_byte_stable(tiny_run, tmp_path):
    state = rf.read_model_state(tiny_run)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    a = rf.write_model_state(tmp_path / "a", state)
    b = rf.write_model_state(tmp_path / "b", rf.read_model_state(tmp_path / "a"))
    assert a.name == rf.MODEL and a.read_bytes() == b.read_bytes() == (tiny_run / rf.MODEL).read_bytes()
    from dfprep.train.checkpoint import load_model

    model, cfg = load_model(tiny_run)
    assert cfg.model == "smallcnn" and all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_checkpoints_keep_the_newest_epochs(tmp_path):
    assert rf.load_checkpoint(tmp_path) is None
    for epoch in (1, 2, 3):
        rf.save_checkpoint(tmp_path, {"epoch": epoch, "w": torch.full((2,), float(epoch))}, epoch_end=True, keep=2)
    rf.save_checkpoint(tmp_path, {"epoch": 3, "w": torch.zeros(2)}, epoch_end=False, keep=2)
    assert sorted(p.name for p in rf.checkpoint_dir(tmp_path).iterdir()) == ["epoch-002.pt", "epoch-003.pt", "last.pt"]
    assert rf.last_checkpoint(tmp_path) == tmp_path / rf.CHECKPOINTS / rf.LAST
    assert torch.equal(rf.load_checkpoint(tmp_path)["w"], torch.zeros(2))
    assert rf.epoch_checkpoint_name("epoch-003.pt") and not rf.epoch_checkpoint_name(".tmp-ab-epoch-003.pt")


def test_metrics_round_trip_and_refusal(tmp_path):
    assert rf.read_metrics(tmp_path) is None
    frame = {"log_loss": 0.5, "roc_auc": 0.75, "n": 8, "n_real": 4, "n_fake": 4}
    summary = {"status": "complete", "epochs_done": 2, "steps": 10, "best_epoch": 2,
               "val": {"frame": frame, "video": dict(frame, n=2)}, "test": None}
    rf.write_metrics(tmp_path, summary)
    m = rf.read_metrics(tmp_path)
    assert (m.status, m.epochs_done, m.steps, m.best_epoch) == ("complete", 2, 10, 2)
    with open(tmp_path / rf.METRICS_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == rf.METRIC_FIELDS and [(r["split"], r["level"], r["n"]) for r in rows] == [
        ("val", "frame", "8"), ("val", "video", "2")] and rows[0]["accuracy"] == ""
    summary.pop("steps")
    (tmp_path / rf.METRICS).write_text(json.dumps(summary))
    with pytest.raises(RunError, match=r"metrics.json: key 'steps' is missing"):
        rf.read_metrics(tmp_path)


def test_steps_history_predictions_and_rank_files(tmp_path):
    log = rf.StepLog(tmp_path, 0)
    log.append([{"step": s, "epoch": 1, "batch": s, "loss": 1.0 / s, "lr": 0.1} for s in (1, 2, 3)])
    assert [r["step"] for r in rf.read_steps(tmp_path)] == [1, 2, 3]
    rf.StepLog(tmp_path, 2)                                 # a resume from step 2 cuts the log back
    assert [r["step"] for r in rf.read_steps(tmp_path)] == [1, 2] and rf.read_steps(tmp_path)[1]["loss"] == 0.5
    row = rf.history_row(1, 3, 0.1, {"loss": 0.7, "samples": 12, "seconds": 2.0}, None, 0.5)
    rf.write_history(tmp_path, [row])
    with open(tmp_path / rf.HISTORY, newline="") as fh:
        back = list(csv.DictReader(fh))
    assert list(back[0])[:len(rf.EPOCH_FIELDS)] == rf.EPOCH_FIELDS and back[0]["train_samples_per_s"] == "6.0"
    rf.write_predictions(tmp_path / rf.VAL_PREDICTIONS, ["b.mp4", "a.mp4", "b.mp4"], [1, 0, 1], [0.2, 0.1, 0.4],
                         "mean")
    with open(tmp_path / rf.VAL_PREDICTIONS, newline="") as fh:
        preds = list(csv.DictReader(fh))
    assert preds == [{"video": "a.mp4", "label": "0", "prob": "0.100000"},
                     {"video": "b.mp4", "label": "1", "prob": "0.300000"}]
    rf.write_rank_shards(tmp_path, 1, ["train-000001.tar", "train-000000.tar"])
    assert json.loads((tmp_path / rf.rank_shards(1)).read_text()) == ["train-000000.tar", "train-000001.tar"]

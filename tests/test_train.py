"""dfprep train: metrics against scikit-learn, models, the shard loader (allow-list, epochs, determinism),
training lowering the loss, exact resume, DDP with two gloo ranks, and (slow) the end-to-end AUC goal.

Most tests use small shards written here with webdataset's TarWriter, following the shard contract: JPEG crops
cut from scikit-image photos, where a FAKE sample carries a visible magenta square, so a model can learn them.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dfprep.train.config import TrainConfig
from dfprep.train.data import (LoaderConfig, TrainUsageError, UnsafeShardError, eval_loader, split_shards,
                               to_input, train_loader, usable_workers)
from dfprep.train.metrics import binary_metrics, video_level

REPO = Path(__file__).resolve().parents[1]


# --- shards written for the tests ------------------------------------------------------------------------------

def _photos() -> list[np.ndarray]:
    import skimage.data as data

    return [data.astronaut(), data.chelsea(), data.coffee()]


def _crop(rng: np.random.Generator, photos: list[np.ndarray], size: int, fake: bool, shift: int = 0) -> bytes:
    import PIL.Image

    img = photos[rng.integers(len(photos))]
    side = int(rng.integers(120, min(img.shape[:2])))
    y, x = rng.integers(0, img.shape[0] - side + 1), rng.integers(0, img.shape[1] - side + 1)
    crop = np.array(PIL.Image.fromarray(img[y:y + side, x:x + side]).resize((size, size)))
    if fake:
        s = size // 3
        py, px = rng.integers(0, size - s, 2)
        px = min(size - s, px + shift)
        crop[py:py + s, px:px + s] = (255, 0, 255)
    buf = io.BytesIO()
    PIL.Image.fromarray(crop).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_shards(out: Path, splits=(("train", 4), ("val", 2), ("test", 2)), per_shard: int = 12,
                 per_video: int = 3, size: int = 64, unit: str = "frame", clip_len: int = 4, seed: int = 0,
                 evil_member: bool = False) -> Path:
    """SHARDS/index.json + {split}-NNNNNN.tar, half REAL and half FAKE videos, `per_video` samples each."""
    import webdataset as wds

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = _photos()
    index = {"format": "dfprep-shards/1", "unit": unit, "clip_len": clip_len if unit == "clip" else None,
             "config": {"unit": unit, "clip_len": clip_len}, "splits": {}, "class_weights": {"REAL": 1.0, "FAKE": 1.0}}
    for split, n_shards in splits:
        entries, n_real, n_fake, n_videos = [], 0, 0, 0
        sample = 0
        for i in range(n_shards):
            name = f"{split}-{i:06d}.tar"
            real = fake = 0
            with wds.TarWriter(str(out / name)) as w:
                for _ in range(per_shard):
                    vid = sample // per_video
                    is_fake = vid % 2 == 1
                    frame = sample % per_video
                    key = f"p0_{split}v{vid:03d}_{'c' if unit == 'clip' else 'f'}{frame:05d}_t0"
                    meta = {"video": f"{split}v{vid:03d}.mp4", "part": 0, "family": f"p0/{split}v{vid:03d}",
                            "label": "FAKE" if is_fake else "REAL", "frame_idx": frame, "track_id": 0,
                            "box": [0, 0, size, size], "prob": 1.0, "augmentation": None, "key": key}
                    rec = {"__key__": key, "cls": b"1" if is_fake else b"0", "json": json.dumps(meta).encode()}
                    if unit == "frame":
                        rec["jpg"] = _crop(rng, photos, size, is_fake)
                    else:
                        for t in range(clip_len):
                            rec[f"{t:03d}.jpg"] = _crop(rng, photos, size, is_fake, shift=2 * t)
                    if evil_member and split == "train" and i == 0 and sample == 0:
                        rec["pyd"] = pickle.dumps(_Touch(str(out / "PWNED")))
                    w.write(rec)
                    fake += is_fake
                    real += not is_fake
                    n_videos = max(n_videos, vid + 1)
                    sample += 1
            data = (out / name).read_bytes()
            entries.append({"name": name, "n_samples": per_shard, "n_real": real, "n_fake": fake,
                            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            n_real, n_fake = n_real + real, n_fake + fake
        index["splits"][split] = {"samples": n_real + n_fake, "real": n_real, "fake": n_fake,
                                  "families": n_videos, "videos": n_videos, "shards": entries}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return out


class _Touch:
    """Unpickling this creates a file: a shard member holding it must never be unpickled."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.fixture(scope="module")
def frame_shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"))


def small_cfg(**kw) -> TrainConfig:
    base = dict(model="smallcnn", epochs=2, batch_size=8, input_size=48, workers=0, lr=3e-3, progress=False,
                augment=False)
    base.update(kw)
    return TrainConfig(**base)


# --- metrics ---------------------------------------------------------------------------------------------------

def test_binary_metrics_equal_sklearn():
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss, precision_score,
                                 recall_score, roc_auc_score)

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    p[:3] = [0.0, 1.0, 1.0]                       # exact 0/1: the DFDC clipping must keep the loss finite
    m = binary_metrics(y, p, threshold=0.5)
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    assert m["log_loss"] == pytest.approx(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)), rel=1e-12)
    assert np.isfinite(m["log_loss"])
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["fpr"] == pytest.approx(fp / (fp + tn))
    assert (m["n"], m["n_real"], m["n_fake"]) == (200, int((y == 0).sum()), int(y.sum()))
    # log loss by hand: mean of -ln(p) for FAKE, -ln(1-p) for REAL, clipped
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    assert m["log_loss"] == pytest.approx(float(np.mean(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)))))
    one = binary_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert one["roc_auc"] is None and one["fpr"] == pytest.approx(1 / 3) and one["n_fake"] == 0
    assert binary_metrics([1, 1], [0.9, 0.2])["specificity"] is None


def test_video_level_pools_each_video():
    videos = ["b", "a", "b", "a", "c", "b"]
    labels = [1, 0, 1, 0, 1, 1]
    probs = [0.9, 0.2, 0.3, 0.4, 0.5, 0.6]
    for agg, fn in (("mean", np.mean), ("median", np.median), ("max", np.max)):
        names, y, p = video_level(videos, labels, probs, agg)
        assert names == ["a", "b", "c"] and y.tolist() == [0, 1, 1]
        assert p.tolist() == pytest.approx([fn([0.2, 0.4]), fn([0.9, 0.3, 0.6]), 0.5])
    with pytest.raises(ValueError, match="both REAL and FAKE"):
        video_level(["a", "a"], [0, 1], [0.1, 0.2])


# --- models and inputs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["smallcnn", "resnet18", "resnet50", "efficientnet_b0"])
def test_frame_models_give_one_logit(name):
    from dfprep.train.models import build_model, gradcam_layer

    model = build_model(name).eval()
    seen = []
    gradcam_layer(model).register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2,) and torch.isfinite(out).all()
    assert len(seen) == 1 and len(seen[0]) == 4          # the Grad-CAM layer is a conv block: [B,C,h,w]


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_temporal_model_attends_over_time(rnn):
    from dfprep.train.models import build_model

    model = build_model("smallcnn", unit="clip", clip_len=4, rnn=rnn).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 4, 3, 32, 32))
    assert out.shape == (3,)
    att = model.last_attention
    assert att.shape == (3, 4) and torch.allclose(att.sum(1), torch.ones(3))
    with pytest.raises(ValueError):
        model(torch.randn(3, 3, 32, 32))


def test_local_weights_load_into_encoder(tmp_path):
    import torchvision

    from dfprep.train.models import build_model, load_weights

    ref = torchvision.models.resnet18(weights=None)          # an ImageNet-style file: 1000-class fc
    torch.save(ref.state_dict(), tmp_path / "resnet18.pth")
    model = build_model("resnet18")
    report = load_weights(model, tmp_path / "resnet18.pth")
    assert torch.equal(model.encoder.conv1.weight, ref.conv1.weight)
    assert torch.equal(model.encoder.layer4[1].bn2.running_var, ref.layer4[1].bn2.running_var)
    assert "encoder.fc.weight" in report["skipped"] and report["missing"] == ["head.bias", "head.weight"]


def test_to_input_resizes_and_normalises():
    x = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    y = to_input(x, 40)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    assert torch.allclose(y, (x.float() / 255 - mean) / std, atol=1e-6)
    assert to_input(x, 24).shape == (2, 3, 24, 24)
    assert to_input(torch.zeros(2, 5, 3, 40, 40, dtype=torch.uint8), 16).shape == (2, 5, 3, 16, 16)


# --- loader ----------------------------------------------------------------------------------------------------

def _index(shards: Path):
    from dfprep.train.data import read_index

    return read_index(shards)


def test_eval_loader_reads_every_sample_once(frame_shards):
    split = split_shards(frame_shards, _index(frame_shards), "val")
    keys, labels = [], []
    for batch in eval_loader(split, LoaderConfig(size=32, batch_size=5, workers=2)):
        assert batch["image"].dtype == torch.uint8 and batch["image"].shape[1:] == (3, 32, 32)
        keys += batch["key"]
        labels += batch["label"].tolist()
    assert len(keys) == len(set(keys)) == split.samples == 24
    assert sum(labels) == split.fake


def test_train_loader_epoch_length_and_replay(frame_shards):
    split = split_shards(frame_shards, _index(frame_shards), "train")
    cfg = LoaderConfig(size=32, batch_size=8, workers=2, seed=5, augment=True, shuffle_buffer=20)

    def keys(epoch, n):
        return [tuple(b["key"]) for b in train_loader(split, cfg, epoch, n)]

    first = keys(0, 6)
    assert len(first) == 6                              # set on the loader: 2 workers do not make 2 epochs
    assert keys(0, 6) == first                          # (seed, epoch, workers) fixes the batches: replayable
    assert keys(1, 6) != first                          # another epoch, another order
    assert len(keys(0, 9)) == 9                         # past the split's end the shards start again
    seen = {k for b in first for k in b}
    assert len(seen) == split.samples                   # 48 samples / 8 = one pass in 6 batches


def test_pickle_member_is_refused_not_unpickled(tmp_path):
    shards = write_shards(tmp_path / "evil", splits=(("train", 2), ("val", 1)), evil_member=True)
    split = split_shards(shards, _index(shards), "train")
    with pytest.raises(UnsafeShardError, match=r"train-000000\.tar.*\.pyd is not allowed"):
        list(eval_loader(split, LoaderConfig(size=32, batch_size=4)))
    with pytest.raises(UnsafeShardError, match=r"\.pyd is not allowed"):
        from dfprep.train.run import train
        train(shards, tmp_path / "run", small_cfg(epochs=1, workers=2))
    assert not (shards / "PWNED").exists()

    from typer.testing import CliRunner

    res = CliRunner().invoke(_app(), [str(shards), "--out", str(tmp_path / "run2"), "--model", "smallcnn",
                                      "--workers", "0", "--no-progress"])
    assert res.exit_code == 1 and "not allowed" in res.output       # bad data: exit 1 (misuse is 2)
    assert not (shards / "PWNED").exists()


def test_a_rank_without_shards_is_an_error():
    assert usable_workers(8, 2, 4) == 4 and usable_workers(3, 2, 4) == 1 and usable_workers(2, 1, 0) == 0
    with pytest.raises(TrainUsageError, match="every rank needs"):
        usable_workers(1, 2, 4)


# --- training --------------------------------------------------------------------------------------------------

def _app():
    """`dfprep train` on an app of its own, through dfprep.cli's one handler as registered."""
    import typer

    from dfprep.cli import reported
    from dfprep.train.cli import TRAIN_INTERRUPTED, train_command

    app = typer.Typer()
    app.command()(reported(train_command, TRAIN_INTERRUPTED))
    return app


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_training_lowers_val_loss_and_writes_run(frame_shards, tmp_path):
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import batch_to_device
    from dfprep.train.models import build_model
    from dfprep.train.run import train

    cfg = small_cfg(epochs=4, augment=True, workers=2, seed=1)
    torch.manual_seed(cfg.seed)                       # the untrained model train() starts from
    untrained = build_model("smallcnn").eval()
    val = split_shards(frame_shards, _index(frame_shards), "val")
    ys, ps = [], []
    with torch.no_grad():
        for b in eval_loader(val, LoaderConfig(size=48, batch_size=16)):
            ps += torch.sigmoid(untrained(batch_to_device(b, torch.device("cpu"), 48))).tolist()
            ys += b["label"].long().tolist()
    before = binary_metrics(ys, ps)["log_loss"]

    run = tmp_path / "run"
    s = train(frame_shards, run, cfg)
    assert s.status == "complete" and s.steps == 4 * 6
    assert s.val["frame"]["log_loss"] < before - 0.05
    assert s.test["video"]["n"] == 8 and s.test["frame"]["n"] == 24
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_epoch"] == s.best_epoch and len(metrics["history"]) == 4
    flat = {(r["split"], r["level"]): r for r in _read_csv(run / "metrics.csv")}   # metrics.csv: one row a level
    assert set(flat) == {(sp, lv) for sp in ("val", "test") for lv in ("frame", "video")}
    assert float(flat[("test", "video")]["log_loss"]) == pytest.approx(s.test["video"]["log_loss"])
    assert int(flat[("test", "frame")]["n"]) == 24
    hist = _read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in hist] == [1, 2, 3, 4]
    assert float(hist[s.best_epoch - 1]["val_video_log_loss"]) == pytest.approx(s.val["video"]["log_loss"])
    steps = _read_csv(run / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 25))
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-003.pt", "epoch-004.pt", "last.pt"]

    # val_predictions.csv is the best model's video-level output: the saved model.pt reproduces it
    preds = {r["video"]: (int(r["label"]), float(r["prob"])) for r in _read_csv(run / "val_predictions.csv")}
    assert len(preds) == 8
    model, config = load_model(run)
    assert config["model"] == "smallcnn" and config["unit"] == "frame" and config["input_size"] == 48
    by_video: dict[str, list[float]] = {}
    with torch.no_grad():
        for b in eval_loader(val, LoaderConfig(size=48, batch_size=16)):
            for v, p in zip(b["video"], torch.sigmoid(model(batch_to_device(b, torch.device("cpu"), 48))).tolist()):
                by_video.setdefault(v, []).append(p)
    for v, (label, prob) in preds.items():
        assert prob == pytest.approx(float(np.mean(by_video[v])), abs=1e-5)
        assert label == (1 if int(v[4:7]) % 2 else 0)


def test_resume_reproduces_the_uninterrupted_run(frame_shards, tmp_path):
    from dfprep.formats.run import read_steps
    from dfprep.train.run import train

    cfg = dict(epochs=2, deterministic=True, augment=True, seed=3)
    k = 8                                              # mid-way through epoch 2 (6 steps per epoch)
    a = train(frame_shards, tmp_path / "a", small_cfg(max_steps=k + 1, **cfg))
    assert a.status == "stopped" and a.steps == k + 1
    b = train(frame_shards, tmp_path / "b", small_cfg(max_steps=k, **cfg))
    assert b.steps == k
    with pytest.raises(TrainUsageError, match="--resume"):
        train(frame_shards, tmp_path / "b", small_cfg(max_steps=k + 1, **cfg))
    with pytest.raises(TrainUsageError, match="other settings"):
        train(frame_shards, tmp_path / "b", small_cfg(max_steps=k + 1, resume=True, **{**cfg, "seed": 4}))
    b2 = train(frame_shards, tmp_path / "b", small_cfg(max_steps=k + 1, resume=True, **cfg))
    assert b2.steps == k + 1
    sa, sb = read_steps(tmp_path / "a"), read_steps(tmp_path / "b")
    assert [r["step"] for r in sb] == list(range(1, k + 2))
    assert sb[k]["epoch"] == 2 and sb[k]["batch"] == 3
    assert sb[k]["loss"] == pytest.approx(sa[k]["loss"], rel=1e-6, abs=1e-7)
    assert sb[k]["lr"] == pytest.approx(sa[k]["lr"])
    assert [r["loss"] for r in sb[:k]] == pytest.approx([r["loss"] for r in sa[:k]], rel=1e-6, abs=1e-7)


def test_clip_shards_train_the_temporal_model(tmp_path):
    from dfprep.train.checkpoint import load_model
    from dfprep.train.run import train

    shards = write_shards(tmp_path / "clips", splits=(("train", 2), ("val", 1)), per_shard=6, unit="clip",
                          clip_len=4, size=48)
    s = train(shards, tmp_path / "run", small_cfg(epochs=1, input_size=32, batch_size=4, rnn="lstm", augment=True))
    assert s.status == "complete" and s.unit == "clip" and s.val["video"]["n"] == 2
    model, config = load_model(tmp_path / "run")
    assert config["clip_len"] == 4 and config["rnn"] == "lstm"
    assert model(torch.zeros(1, 4, 3, 32, 32)).shape == (1,)
    with pytest.raises(TrainUsageError, match="hold clip samples"):
        train(shards, tmp_path / "run3", small_cfg(unit="frame"))


def test_ddp_two_gloo_ranks_read_disjoint_shards(frame_shards, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "dfprep.train", str(frame_shards), "--out", str(run), "--model", "smallcnn", "--epochs", "1",
           "--batch-size", "4", "--input-size", "32", "--workers", "1", "--device", "cpu", "--no-augment",
           "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0 = set(json.loads((run / "rank0_shards.json").read_text()))
    r1 = set(json.loads((run / "rank1_shards.json").read_text()))
    assert r0 and r1 and not (r0 & r1)
    assert r0 | r1 == {f"train-{i:06d}.tar" for i in range(4)}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["steps"] == 6       # 48 samples / (4 x 2 ranks)
    assert metrics["val"]["frame"]["n"] == 24                              # both ranks' val shards gathered
    assert json.loads((run / "config.json").read_text())["world_size"] == 2


# --- end to end ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_end_to_end_synth_ingest_shards_train_reaches_auc(tmp_path):
    """200 synthetic videos -> ingest -> balanced shards -> smallcnn on CPU: test video-level ROC AUC >= 0.9."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards
    from dfprep.synth import SynthConfig, make_corpus
    from dfprep.train.run import train

    root, work, shards, run = (tmp_path / n for n in ("corpus", "work", "shards", "run"))
    make_corpus(root, SynthConfig(parts=2, videos=100, duration=1.0, fps=10, seed=0))
    ingest(root, work, IngestConfig(frames=6, address="local", progress=False))
    make_shards(work, shards, ShardsConfig(split="0.7,0.15,0.15", balance="undersample", samples_per_shard=32,
                                           progress=False, use_ray=False))
    s = train(shards, run, TrainConfig(**E2E_TRAIN))
    assert s.status == "complete" and s.test["video"]["n_real"] >= 3 and s.test["video"]["n_fake"] >= 3
    assert s.test["video"]["roc_auc"] >= 0.9, s.test
    rows = _read_csv(run / "test_predictions.csv")
    assert len(rows) == s.test["video"]["n"]
    print(f"e2e: test video {s.test['video']}, best epoch {s.best_epoch}, train {s.seconds:.0f} s")


E2E_TRAIN = dict(model="smallcnn", input_size=112, epochs=4, batch_size=16, lr=2e-3, workers=2, seed=0,
                 progress=False)

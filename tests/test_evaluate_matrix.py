"""`dfprep evaluate RUN [SHARDS]`: the cross-dataset matrix, checked against scikit-learn on the predictions it
wrote, a run trained on one dataset scored on shards of others, a one-class row, the figure, and the model being
chosen on the validation split only.

Shards are written here with webdataset's TarWriter as `dfprep shards` writes them: each sample's json is
`dfprep.shards.samples.sample_json`'s plus the `dataset` and `method` keys (never null, as the whole json:
`method` "" when the sample has none), a non-DFDC
video is named by its path inside the dataset root in the dataset's part (`dataset_part`), and some samples are
written without the two keys, as older shards were. Crops are scikit-image photos where a FAKE carries a magenta
square (tests/test_train.py), so a smallcnn learns them in seconds.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from test_train import _crop, _photos, small_cfg

from dfprep.dataset import dataset_part
from dfprep.shards.samples import sample_json

SIZE = 64


def _video(split: str, dataset: str | None, method: str | None, label: str, name: str, n: int = 3,
           odd: int = 0, reps: int = 0, old_reps: bool = False) -> dict:
    """A video of `n` samples; the first `odd` of them look like the other class (the model gets them wrong, so
    AUC, EER and AP are not trivially 1, 0, 1). `reps`: oversampled copies of each sample (`repeat` 1..reps, key
    `_r{k}`), each looking like the other class, so scoring them would change every number; `old_reps`: their
    json without `repeat` (the key alone says it)."""
    return {"split": split, "dataset": dataset, "method": method, "label": label, "name": name, "n": n, "odd": odd,
            "reps": reps, "old_reps": old_reps}


def write_shards(out: Path, videos: list[dict], per_shard: int = 10, seed: int = 0,
                 balance: dict | None = None) -> Path:
    """SHARDS/index.json + {split}-NNNNNN.tar holding `videos` (dicts of `_video`); dataset None: a sample json
    without `dataset`/`method` (older shards, a DFDC part 0 video). Each split's pixels come from its own seed,
    so changing one split leaves the others' bytes as they were. `balance`: {split: index.json's balance
    record of that split}."""
    import webdataset as wds

    out.mkdir(parents=True, exist_ok=True)
    photos = _photos()
    index = {"format": "dfprep-shards/1", "unit": "frame", "clip_len": None, "config": {"unit": "frame"},
             "splits": {}, "class_weights": {"REAL": 1.0, "FAKE": 1.0}}
    for s_i, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng([seed, s_i])
        samples = []
        for v in (v for v in videos if v["split"] == split):
            part = 0 if v["dataset"] in (None, "dfdc") else dataset_part(v["dataset"])
            for f, k in ((f, k) for f in range(v["n"]) for k in range(v.get("reps", 0) + 1)):
                key = f"p{part}_{hashlib.sha1(v['name'].encode()).hexdigest()[:12]}_f{f:05d}_t0"
                key += f"_r{k}" if k else ""
                meta = {"key": key, "video": v["name"], "part": part, "family": f"p{part}/{v['name']}",
                        "split": split, "label": v["label"], "repeat": k, "dataset": v["dataset"],
                        "method": v["method"] or ""}
                crops = [{"frame_idx": f, "track_id": 0, "box": [0.0, 0.0, SIZE, SIZE], "prob": 1.0}]
                doc = json.loads(sample_json(meta, crops, clip=False, augmentation=None))
                if v["dataset"] is None:        # older shards: no dataset keys
                    doc.pop("dataset", None)
                    doc.pop("method", None)
                else:                           # the writer's keys: never null, "" for no method
                    doc.update(dataset=v["dataset"], method=v["method"] or "")
                if k and v.get("old_reps"):
                    doc.pop("repeat")
                looks_fake = ((v["label"] == "FAKE") != (f < v["odd"])) != bool(k)      # a copy: the other look
                samples.append({"__key__": key, "cls": b"1" if v["label"] == "FAKE" else b"0",
                                "json": json.dumps(doc).encode(), "jpg": _crop(rng, photos, SIZE, looks_fake)})
        if not samples:
            continue
        entries = []
        for i in range(0, len(samples), per_shard):
            name = f"{split}-{i // per_shard:06d}.tar"
            chunk = samples[i:i + per_shard]
            with wds.TarWriter(str(out / name)) as w:
                for rec in chunk:
                    w.write(rec)
            data = (out / name).read_bytes()
            fake = sum(r["cls"] == b"1" for r in chunk)
            entries.append({"name": name, "n_samples": len(chunk), "n_real": len(chunk) - fake, "n_fake": fake,
                            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        n_fake = sum(e["n_fake"] for e in entries)
        n_videos = sum(v["split"] == split for v in videos)
        index["splits"][split] = {"samples": len(samples), "real": len(samples) - n_fake, "fake": n_fake,
                                  "families": n_videos, "videos": n_videos, "shards": entries}
        if balance and split in balance:
            index["splits"][split]["balance"] = balance[split]
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return out


FFPP_METHODS = ("Deepfakes", "FaceSwap")


def ffpp_videos(test_flipped: bool = False) -> list[dict]:
    """FF++-like train/val/test: REAL youtube originals, FAKEs of two methods. `test_flipped`: a test split of
    other videos whose crops all look like the other class (a model chosen on it would be the worst one)."""
    out = []
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        for i in range(n):
            real = f"original_sequences/youtube/c23/videos/{split}{i:03d}.mp4"
            out.append(_video(split, "ffpp", None, "REAL", real))
            m = FFPP_METHODS[i % 2]
            out.append(_video(split, "ffpp", m, "FAKE", f"manipulated_sequences/{m}/c23/videos/{split}{i:03d}_x.mp4"))
    if test_flipped:
        out = [v for v in out if v["split"] != "test"]
        for i in range(3):
            out.append(_video("test", "ffpp", None, "FAKE", f"t/{i}.mp4", n=2, odd=2))
            out.append(_video("test", "ffpp", None, "REAL", f"t/{i}_f.mp4", n=4, odd=4))
    return out


def other_datasets() -> list[dict]:
    """A test split of two other datasets (Celeb-DF v2 without methods, DFDC preview with two), a one-class
    dataset (DeeperForensics fakes alone), and older samples without the dataset keys (read as dfdc). Two
    datasets both hold a video named `000.mp4`: videos are told apart by dataset."""
    v = []
    for i in range(3):
        v.append(_video("test", "celebdf-v2", None, "REAL", f"Celeb-real/id{i}_0000.mp4", odd=i % 2))
        v.append(_video("test", "celebdf-v2", None, "FAKE", f"Celeb-synthesis/id{i}_id9_0000.mp4", n=2,
                        odd=2 * (i == 2)))
        v.append(_video("test", "dfdc-preview", None, "REAL", f"original_videos/{i}/00{i}.mp4" if i else "000.mp4",
                        odd=i))
        v.append(_video("test", "dfdc-preview", ("method_A", "method_B")[i % 2], "FAKE",
                        f"method_{'AB'[i % 2]}/{i}/fake{i}.mp4", n=4, odd=1 + i))
    v.append(_video("test", "deeperforensics", "end_to_end", "FAKE", "manipulated_videos/end_to_end/000_M004.mp4"))
    v.append(_video("test", "deeperforensics", "end_to_end", "FAKE", "000.mp4", n=2))
    v.append(_video("test", None, None, "REAL", "aaaaaaaaaa.mp4"))
    v.append(_video("test", None, None, "FAKE", "bbbbbbbbbb.mp4", n=2))
    return v


def _cli(*args: str):
    from dfprep.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})     # the table unwrapped
    res.text = " ".join(res.output.split())
    return res


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A smallcnn trained on the FF++-like shards (3 epochs, seconds on a CPU)."""
    from dfprep.train.run import train

    base = tmp_path_factory.mktemp("ffpp")
    shards = write_shards(base / "shards", ffpp_videos())
    train(shards, base / "run", small_cfg(epochs=3, seed=2, deterministic=True, keep_checkpoints=3))
    return base / "run"


@pytest.fixture(scope="module")
def others(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("others") / "shards", other_datasets(), per_shard=7, seed=5)


# --- scikit-learn, computed here from matrix_predictions.csv --------------------------------------------------

def _eer(y: np.ndarray, p: np.ndarray) -> float:
    """DeepfakeBench's EER: brentq over the linearly interpolated ROC curve."""
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    return float(brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0))


def _expected(y: np.ndarray, p: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, average_precision_score, log_loss, roc_auc_score

    two = 0 < y.sum() < len(y)
    return {"auc": roc_auc_score(y, p) if two else None, "eer": _eer(y, p) if two else None,
            "ap": average_precision_score(y, p) if two else None,
            "log_loss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]),
            "accuracy": accuracy_score(y, (p >= 0.5).astype(int))}


def _check_row(row: dict, preds: list[dict]) -> None:
    """Every metric of a matrix.csv row equals scikit-learn's on the row's predictions, per level."""
    y = np.array([int(r["label"]) for r in preds])
    p = np.array([float(r["prob"]) for r in preds])
    videos: dict[tuple, list[dict]] = {}
    for r in preds:
        videos.setdefault((r["dataset"], r["part"], r["video"]), []).append(r)
    vy = np.array([int(rs[0]["label"]) for rs in videos.values()])
    assert int(row["frames"]) == len(preds) and int(row["videos"]) == len(videos)
    assert int(row["real_frames"]) == int((y == 0).sum()) and int(row["fake_frames"]) == int(y.sum())
    assert int(row["real_videos"]) == int((vy == 0).sum()) and int(row["fake_videos"]) == int(vy.sum())
    levels = {"frame": (y, p)}
    for agg, fn in (("mean", np.mean), ("median", np.median), ("max", np.max)):
        levels[f"video_{agg}"] = (vy, np.array([fn([float(r["prob"]) for r in rs]) for rs in videos.values()]))
    for level, (ly, lp) in levels.items():
        for name, want in _expected(ly, lp).items():
            got = row[f"{level}_{name}"]
            if want is None:
                assert got == "", (row["dataset"], row["method"], level, name)
            else:
                assert float(got) == pytest.approx(want, abs=1e-9), (row["dataset"], row["method"], level, name)


def _shard_samples(shards: Path, split: str) -> dict[str, tuple[int, dict]]:
    """key -> (cls, json) of every sample of the split, read back with the webdataset library."""
    import webdataset as wds

    urls = sorted(str(p) for p in shards.glob(f"{split}-*.tar"))
    return {s["__key__"]: (int(s["cls"]), json.loads(s["json"])) for s in wds.WebDataset(urls, shardshuffle=False)}


# --- the tests -------------------------------------------------------------------------------------------------

def test_cross_dataset_matrix_equals_sklearn(trained, others, tmp_path):
    """Trained on FF++-like shards, scored on the test split of shards holding two other datasets (plus a
    one-class one and older samples): every row's numbers are scikit-learn's on the predictions written."""
    out = tmp_path / "eval"
    res = _cli("evaluate", trained, others, "--out", out)
    assert res.exit_code == 0, res.output
    assert "celebdf-v2" in res.text and "method_A" in res.text and "cross-dataset" in res.text
    assert ("deeperforensics / (all methods): no REAL samples: this dataset's reals are in another dataset's "
            "rows; score it with that dataset's test REALs") in res.text

    preds = _read_csv(out / "matrix_predictions.csv")
    truth = _shard_samples(others, "test")
    assert sorted(r["key"] for r in preds) == sorted(truth)              # every test sample once
    for r in preds:
        cls, meta = truth[r["key"]]
        assert int(r["label"]) == cls and r["video"] == meta["video"] and int(r["part"]) == meta["part"]
        assert r["dataset"] == meta.get("dataset", "dfdc") and r["method"] == meta.get("method", "")

    # the probabilities are RUN/model.pt's on those crops
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import decode_jpeg_bytes, to_input
    import webdataset as wds

    model, cfg = load_model(trained)
    urls = sorted(str(p) for p in others.glob("test-*.tar"))
    with torch.no_grad():
        for s in list(wds.WebDataset(urls, shardshuffle=False))[:6]:
            x = to_input(decode_jpeg_bytes(s["jpg"]).unsqueeze(0), cfg.input_size)
            want = torch.sigmoid(model(x)).item()
            got = next(float(r["prob"]) for r in preds if r["key"] == s["__key__"])
            assert got == pytest.approx(want, abs=1e-5)

    rows = _read_csv(out / "matrix.csv")
    ids = [(r["dataset"], r["method"]) for r in rows]
    assert ids == [("all", ""), ("celebdf-v2", ""), ("deeperforensics", ""), ("deeperforensics", "end_to_end"),
                   ("dfdc", ""), ("dfdc-preview", ""), ("dfdc-preview", "method_A"), ("dfdc-preview", "method_B")]
    for row in rows:
        d, m = row["dataset"], row["method"]
        if d == "all":
            mine = preds
        elif not m:
            mine = [r for r in preds if r["dataset"] == d]
        else:                       # a method row: the dataset's REALs and that method's FAKEs
            mine = [r for r in preds if r["dataset"] == d and (r["label"] == "0" or r["method"] == m)]
        _check_row(row, mine)
    by = {(r["dataset"], r["method"]): r for r in rows}
    for key in (("all", ""), ("celebdf-v2", ""), ("dfdc-preview", "method_B")):     # errors to count
        assert 0.5 < float(by[key]["frame_auc"]) < 1 and 0 < float(by[key]["frame_eer"]) < 0.5
    assert int(by[("dfdc-preview", "method_A")]["real_videos"]) == 3           # the dataset's REALs ...
    assert int(by[("dfdc-preview", "method_A")]["fake_videos"]) == 2           # ... and the method's FAKEs
    assert int(by[("dfdc-preview", "")]["videos"]) == 6                         # 000.mp4 of two datasets: two videos
    one = by[("deeperforensics", "")]                                          # one class: null, and why
    assert one["frame_auc"] == one["frame_eer"] == one["frame_ap"] == one["video_mean_auc"] == ""
    assert one["note"].startswith("no REAL samples: this dataset's reals are in another dataset's rows")
    assert by[("deeperforensics", "end_to_end")]["note"] == one["note"] and float(one["frame_log_loss"]) > 0

    doc = json.loads((out / "matrix.json").read_text())
    assert doc["split"] == "test" and doc["own_shards"] is False and doc["samples"] == len(preds)
    assert doc["repeats_dropped"] == 0 and doc["undersampled"] is None and doc["warnings"] == []
    assert doc["selection_split_scored"] is False and doc["seconds"] > 0
    assert doc["model_selection"] == ("RUN/model.pt: the epoch with the lowest validation video log loss; the test "
                                      "split never takes part in choosing it")
    assert doc["best_epoch"] == json.loads((trained / "metrics.json").read_text())["best_epoch"]
    j = {(r["dataset"], r["method"] or ""): r for r in doc["rows"]}
    assert j[("deeperforensics", "")]["frame_auc"] is None
    assert j[("all", "")]["frame_auc"] == pytest.approx(float(by[("all", "")]["frame_auc"]), abs=0)


def test_figure_is_a_readable_png(trained, others, tmp_path):
    import PIL.Image

    out = tmp_path / "eval"
    from dfprep.inference.runeval import evaluate_run

    s = evaluate_run(trained, others, out)
    assert not list(out.glob(".*tmp*")) and sorted(p.name for p in out.iterdir()) == sorted(
        ["matrix.csv", "matrix.json", "matrix.png", "matrix_predictions.csv"])
    with PIL.Image.open(out / "matrix.png") as im:
        assert im.format == "PNG"
        im.load()
        px = np.asarray(im.convert("RGB"))
    assert px.shape[0] > 100 and px.shape[1] > 300 and px.std() > 10         # drawn, not blank
    assert len(s.rows) == 8


def test_own_shards_matrix_agrees_with_training(trained):
    """No SHARDS: the run's own test split; the `all` row is what training measured on it with model.pt."""
    res = _cli("evaluate", trained)
    assert res.exit_code == 0, res.output
    metrics = json.loads((trained / "metrics.json").read_text())
    rows = {(r["dataset"], r["method"]): r for r in _read_csv(trained / "matrix.csv")}
    assert set(rows) == {("all", ""), ("ffpp", ""), ("ffpp", "Deepfakes"), ("ffpp", "FaceSwap")}
    all_ = rows[("all", "")]
    for level, col in (("frame", "frame"), ("video", "video_mean")):
        assert float(all_[f"{col}_log_loss"]) == pytest.approx(metrics["test"][level]["log_loss"], rel=1e-5)
        assert float(all_[f"{col}_auc"]) == pytest.approx(metrics["test"][level]["roc_auc"], rel=1e-6)
    assert json.loads((trained / "matrix.json").read_text())["own_shards"] is True
    test_preds = {r["video"]: float(r["prob"]) for r in _read_csv(trained / "test_predictions.csv")}
    mine: dict[str, list[float]] = {}
    for r in _read_csv(trained / "matrix_predictions.csv"):           # training says <dataset>/<path>
        mine.setdefault(f"{r['dataset']}/{r['video']}", []).append(float(r["prob"]))
    assert test_preds == pytest.approx({v: float(np.mean(p)) for v, p in mine.items()}, abs=1e-5)


def test_model_is_chosen_on_validation_only(trained, tmp_path):
    """model.pt is the epoch with the lowest val video log loss, and the test split has no say: a run whose
    test split differs (other videos, every crop looking like the other class) keeps the same epoch and the
    same weights."""
    from dfprep.formats.run import read_model_state
    from dfprep.train.run import train

    hist = _read_csv(trained / "history.csv")
    val = [float(r["val_video_log_loss"]) for r in hist]
    best = json.loads((trained / "metrics.json").read_text())["best_epoch"]
    assert best == 1 + int(np.argmin(val))
    state = read_model_state(trained)
    epoch = torch.load(trained / "checkpoints" / f"epoch-{best:03d}.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(state[k], epoch["model"][k]) for k in state)

    shards = write_shards(tmp_path / "shards", ffpp_videos(test_flipped=True))
    other = tmp_path / "run"
    s = train(shards, other, small_cfg(epochs=3, seed=2, deterministic=True, keep_checkpoints=3))
    assert s.best_epoch == best and s.test["frame"]["n"] == 18                  # the other test split was scored
    assert s.test["frame"]["roc_auc"] < 0.5                                     # ... and it ranks the other way
    assert [float(r["val_video_log_loss"]) for r in _read_csv(other / "history.csv")] == pytest.approx(val, rel=1e-6)
    other_state = read_model_state(other)
    assert all(torch.equal(state[k], other_state[k]) for k in state)


def test_refusals_are_one_line(trained, tmp_path):
    from test_train import write_shards as write_train_shards

    clips = write_train_shards(tmp_path / "clips", splits=(("train", 1), ("test", 1)), unit="clip", clip_len=2,
                               per_shard=4, size=32)
    res = _cli("evaluate", trained, clips)
    assert res.exit_code == 2 and f"{clips}: holds clip of 2 crops samples; the run's model reads frame" in res.text
    no_test = write_shards(tmp_path / "nt", [v for v in ffpp_videos() if v["split"] != "test"])
    res = _cli("evaluate", trained, no_test)
    assert res.exit_code == 2 and "the test split has no samples" in res.text
    res = _cli("evaluate", trained, "--strict")
    assert res.exit_code == 2 and "--strict applies to a submission" in res.text
    sub = tmp_path / "submission.csv"
    sub.write_text("filename,label\na.mp4,0.5\n")
    res = _cli("evaluate", sub)
    assert res.exit_code == 2 and "a submission needs the ROOT" in res.text
    assert not (tmp_path / "matrix.csv").exists()


def test_sample_meta_reads_new_and_old_jsons():
    """dataset and method of a sample json: the writer's ("" for no method), null, an older json without them;
    a mistyped value is the shard's error, naming shard and member."""
    from dfprep.inference.runeval import sample_meta
    from dfprep.train.errors import BadShardError

    def raw(**meta):
        return {"__url__": "/s/test-000000.tar", "__key__": "k1", "json": json.dumps({"video": "a.mp4", **meta}).encode()}

    assert sample_meta(raw(part=7, dataset="ffpp", method="Deepfakes")) == ("ffpp", "Deepfakes", 7)
    assert sample_meta(raw(part=7, dataset="ffpp", method="")) == ("ffpp", None, 7)
    assert sample_meta(raw(part=7, dataset="ffpp", method=None)) == ("ffpp", None, 7)
    assert sample_meta(raw(part=3)) == sample_meta(raw(part=3, dataset=None)) == ("dfdc", None, 3)
    for bad, what in (({"dataset": 5}, "'dataset' is 5"), ({"dataset": ""}, "'dataset' is ''"),
                      ({"method": ["x"]}, "'method' is ['x']"), ({"part": "7"}, "'part' is '7'")):
        with pytest.raises(BadShardError, match="shard /s/test-000000.tar: member k1.json: " + re.escape(what)):
            sample_meta(raw(**{"part": 1, **bad}))


def test_eer_and_rows_of_the_matrix_module():
    """The matrix module alone: EER equals DeepfakeBench's brentq definition on random scores; a sample json
    whose video is labelled both ways is refused."""
    from dfprep.inference.matrix import SamplePredictions, eer, matrix

    rng = np.random.default_rng(0)
    for n in (7, 40, 200):
        y = rng.integers(0, 2, n)
        y[:2] = (0, 1)
        p = np.clip(rng.normal(0.4 + 0.2 * y, 0.25), 0, 1)
        assert eer(y, p) == pytest.approx(_eer(y, p), abs=1e-9)
    bad = SamplePredictions(["a", "b"], ["x", "x"], [None, None], [1, 1], ["v.mp4", "v.mp4"], [0, 1], [0.2, 0.7])
    with pytest.raises(ValueError, match="labelled both REAL and FAKE"):
        matrix(bad)


def test_without_a_val_split_the_last_model_is_kept(tmp_path):
    """No val split: nothing may choose (least of all the test split), so model.pt is the last epoch's, as
    docs/formats.md says; before, the first epoch's model was kept and scored on the test split."""
    from dfprep.formats.run import read_model_state
    from dfprep.train.run import train

    shards = write_shards(tmp_path / "shards", [v for v in ffpp_videos() if v["split"] != "val"])
    s = train(shards, tmp_path / "run", small_cfg(epochs=2, seed=1, keep_checkpoints=2))
    assert s.best_epoch == 2 and s.val is None and s.test["frame"]["n"] == 24
    state = read_model_state(tmp_path / "run")
    last = torch.load(tmp_path / "run" / "checkpoints" / "epoch-002.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(state[k], last["model"][k]) for k in state)

    # matrix.json says so, from metrics.json (no val): not the lowest validation loss
    res = _cli("evaluate", tmp_path / "run", "--out", tmp_path / "eval")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "eval" / "matrix.json").read_text())
    assert doc["best_epoch"] == 2 and doc["selection_split_scored"] is False
    assert doc["model_selection"] == ("RUN/model.pt: the last epoch (no validation split); the test split never "
                                      "takes part in choosing it")
    assert "the last epoch (no validation split)" not in res.text          # own shards: nothing to warn about


def test_own_val_split_is_warned_and_recorded(trained, others, tmp_path):
    """`--split val` on the run's own shards scores the split that chose model.pt: a warning, and matrix.json
    records it; the test split, or another SHARDS, is not flagged."""
    res = _cli("evaluate", trained, "--split", "val", "--out", tmp_path / "val")
    assert res.exit_code == 0, res.output
    best = json.loads((trained / "metrics.json").read_text())["best_epoch"]
    want = (f"the val split of {json.loads((trained / 'config.json').read_text())['shards']} chose model.pt "
            f"(epoch {best}): its scores are optimistic")
    assert "warning " + want in res.text
    doc = json.loads((tmp_path / "val" / "matrix.json").read_text())
    assert doc["split"] == "val" and doc["own_shards"] is True and doc["selection_split_scored"] is True
    assert len(doc["warnings"]) == 1 and doc["warnings"][0].startswith(want)
    assert doc["samples"] == 24 and "lowest validation video log loss" in doc["model_selection"]

    res = _cli("evaluate", trained, "--out", tmp_path / "test")
    doc = json.loads((tmp_path / "test" / "matrix.json").read_text())
    assert res.exit_code == 0 and doc["selection_split_scored"] is False and doc["warnings"] == []
    assert "optimistic" not in res.text


OVERSAMPLED = {"mode": "oversample", "natural": {"real": 6, "fake": 6}, "target": {"class": "REAL", "samples": 9},
               "note": None}


def test_oversampled_copies_are_left_out(trained, tmp_path):
    """A test split oversampled by --balance-eval: each copy (`repeat > 0`, key `_r{k}`; one video's copies
    without `repeat` in their json, as the key alone says) looks like the other class, so scoring it would change
    every number. The matrix scores the originals alone (scikit-learn's numbers on them) and counts the copies."""
    videos = [_video("test", "celebdf-v2", None, "REAL", f"Celeb-real/id{i}_0000.mp4", n=2, odd=int(i == 1),
                     reps=1 + (i == 0), old_reps=i == 2) for i in range(3)]
    videos += [_video("test", "celebdf-v2", None, "FAKE", f"Celeb-synthesis/id{i}_id9_0000.mp4", n=2, odd=int(i == 2))
               for i in range(3)]
    shards = write_shards(tmp_path / "shards", videos, per_shard=5, seed=3, balance={"test": OVERSAMPLED})
    truth = _shard_samples(shards, "test")
    copies = {k for k in truth if re.search(r"_r[0-9]+$", k)}
    assert len(copies) == 2 * 2 + 2 + 2 and len(truth) == 12 + len(copies)

    out = tmp_path / "eval"
    res = _cli("evaluate", trained, shards, "--out", out)
    assert res.exit_code == 0, res.output
    assert "12 samples scored; 8 oversampled copies (repeat > 0) left out" in res.text
    preds = _read_csv(out / "matrix_predictions.csv")
    assert sorted(r["key"] for r in preds) == sorted(set(truth) - copies)
    rows = _read_csv(out / "matrix.csv")
    assert [(r["dataset"], r["method"]) for r in rows] == [("all", ""), ("celebdf-v2", "")]
    for row in rows:
        _check_row(row, preds)
    assert int(rows[0]["frames"]) == 12 and int(rows[0]["videos"]) == 6
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["samples"] == 12 and doc["repeats_dropped"] == 8
    assert doc["undersampled"] is None and doc["warnings"] == []


def test_undersampled_split_is_said(trained, tmp_path):
    """index.json says --balance-eval undersampled the scored split: matrix.json records how many samples the
    shards left out, and a warning says the metrics miss them."""
    videos = [_video("test", "ffpp", None, "REAL", f"r{i}.mp4", n=2) for i in range(2)]
    videos += [_video("test", "ffpp", "Deepfakes", "FAKE", f"f{i}.mp4", n=2, odd=int(i == 0)) for i in range(2)]
    under = {"mode": "undersample", "natural": {"real": 4, "fake": 10}, "target": {"class": "FAKE", "samples": 4},
             "note": None}
    shards = write_shards(tmp_path / "shards", videos, seed=4, balance={"test": under})
    res = _cli("evaluate", trained, shards, "--out", tmp_path / "eval")
    assert res.exit_code == 0, res.output
    assert (f"warning the test split of {shards} was balanced by undersampling (--balance-eval): 6 of its 14 "
            "samples were left out") in res.text
    doc = json.loads((tmp_path / "eval" / "matrix.json").read_text())
    assert doc["undersampled"] == {"natural": 14, "kept": 8, "dropped": 6} and doc["samples"] == 8
    assert len(doc["warnings"]) == 1 and "balanced by undersampling" in doc["warnings"][0]

    # an undersample that dropped nothing, or an oversampled split, is not flagged
    for balance in ({**under, "natural": {"real": 4, "fake": 4}}, OVERSAMPLED):
        shards = write_shards(tmp_path / balance["mode"], videos, seed=4, balance={"test": balance})
        res = _cli("evaluate", trained, shards, "--out", tmp_path / f"eval-{balance['mode']}")
        doc = json.loads((tmp_path / f"eval-{balance['mode']}" / "matrix.json").read_text())
        assert res.exit_code == 0 and doc["undersampled"] is None and "undersampling" not in res.text


def test_rerun_never_leaves_an_old_matrix_json(trained, others, tmp_path):
    """matrix.json marks the set complete: a rerun into the same folder deletes it first and writes it last, so
    a rerun that fails half-way (here: matrix.png cannot be replaced, after the new CSVs were written) leaves no
    matrix.json vouching for a mix of old and new files; a clean rerun writes it again."""
    from dfprep.inference.runeval import evaluate_run

    out = tmp_path / "eval"
    evaluate_run(trained, None, out)                         # the run's own test split: ffpp rows
    assert (out / "matrix.json").is_file()
    (out / "matrix.png").unlink()
    (out / "matrix.png").mkdir()
    (out / "matrix.png" / "keep").write_text("x")           # a folder in the way: the PNG's rename fails
    with pytest.raises(OSError):
        evaluate_run(trained, others, out)
    assert not (out / "matrix.json").exists()
    assert {r["dataset"] for r in _read_csv(out / "matrix.csv")} > {"celebdf-v2"}     # the new CSV was written

    (out / "matrix.png" / "keep").unlink()
    (out / "matrix.png").rmdir()
    s = evaluate_run(trained, others, out)
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["shards"] == str(others) and doc["samples"] == s.samples and (out / "matrix.png").is_file()


def test_dollar_names_are_drawn_literally(tmp_path):
    """Dataset and method names come from user files: `$x^$` is not valid mathtext, and matplotlib raised when
    saving a figure labelled with it. The matrix figure and the analysis datasets figure draw it as text."""
    import PIL.Image
    from dfprep.analysis.figures import _png, fig_datasets
    from dfprep.inference.matrix import SamplePredictions, figure_png, matrix

    p = SamplePredictions(["a", "b", "c", "d"], ["d$x^$"] * 4, [None, "m$x^$", None, "m$x^$"], [9] * 4,
                          ["r.mp4", "f.mp4", "r2.mp4", "f2.mp4"], [0, 1, 0, 1], [0.2, 0.7, 0.6, 0.4])
    rows = matrix(p)
    assert [(r["dataset"], r["method"]) for r in rows] == [("all", None), ("d$x^$", None), ("d$x^$", "m$x^$")]
    pngs = [figure_png(rows, "run $x^$"),
            _png(fig_datasets({"by_dataset": {"d$x^$": {"labels": {"REAL": 2, "FAKE": 2}}, "e": {"labels": {
                "REAL": 1, "FAKE": 0}}}, "by_method": {"d$x^$": {"m$x^$": {"videos": 2}}, "e": {"$": {"videos": 1}}}}))]
    for i, data in enumerate(pngs):
        (tmp_path / f"{i}.png").write_bytes(data)
        with PIL.Image.open(tmp_path / f"{i}.png") as im:
            assert im.format == "PNG"
            im.load()
            assert np.asarray(im.convert("RGB")).std() > 10


def test_sample_repeat_from_json_or_key():
    from dfprep.inference.runeval import sample_repeat
    from dfprep.train.errors import BadShardError

    def raw(key, **meta):
        return {"__url__": "/s/test-000000.tar", "__key__": key,
                "json": json.dumps({"video": "a.mp4", **meta}).encode()}

    assert sample_repeat(raw("p1_abc_f00001_t0", repeat=0)) == 0
    assert sample_repeat(raw("p1_abc_f00001_t0_r2", repeat=2)) == 2
    assert sample_repeat(raw("p1_abc_f00001_t0_r3")) == 3 and sample_repeat(raw("p1_abc_f00001_t0")) == 0
    for bad in ("1", -1, True):
        with pytest.raises(BadShardError, match=re.escape(f"member k.json: 'repeat' is {bad!r}")):
            sample_repeat(raw("k", repeat=bad))

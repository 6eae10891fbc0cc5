"""predict / evaluate / explain on synth videos with real MTCNN faces and small real models (no mocks)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest
import torch
from PIL import Image
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_score, recall_score, \
    roc_auc_score
from typer.testing import CliRunner

from dfprep.train.checkpoint import save_config, save_model
from dfprep.train.models import build_model

runner = CliRunner()
FRAMES = 8  # as the session's ingest_work fixture, so its crops are the ones predict must find


def _cli(*args: str):
    """The result commands on a Typer app of their own (the lead registers them on `dfprep`)."""
    import typer

    from dfprep.train.cli_results import evaluate_command, explain_command, predict_command

    sub = typer.Typer()
    sub.command("predict")(predict_command)
    sub.command("evaluate")(evaluate_command)
    sub.command("explain")(explain_command)
    res = runner.invoke(sub, list(args))
    res.text = " ".join(res.output.split())  # rich wraps long lines at the terminal width
    return res


def _synth_videos(corpus: Path, kind: str) -> list[str]:
    parts = json.loads((corpus / "synth.json").read_text())["parts"]["dfdc_train_part_0"]
    return [n for n, v in sorted(parts["videos"].items()) if v["kind"] == kind]


def _read_csv(path: Path) -> tuple[list[str], dict[str, float]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], {r[0]: float(r[1]) for r in rows[1:]}


@pytest.fixture(scope="module")
def frame_run(tmp_path_factory) -> Path:
    """A small frame model whose head weights are positive: FAKE evidence is wherever the last block fires,
    so its Grad-CAM maps cannot be all zero and its probabilities are above 0.5."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run_frame")
    model = build_model("smallcnn")
    with torch.no_grad():
        model.head.weight.abs_()
        model.head.bias.zero_()
    save_model(run, model)
    save_config(run, {"model": "smallcnn", "unit": "frame", "clip_len": None, "input_size": 64,
                      "video_agg": "mean"})
    return run


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    run = tmp_path_factory.mktemp("run_clip")
    save_model(run, build_model("smallcnn", unit="clip", clip_len=4))
    save_config(run, {"model": "smallcnn", "unit": "clip", "clip_len": 4, "rnn": "gru", "input_size": 64})
    return run


@pytest.fixture(scope="module")
def inbox(synth_corpus, tmp_path_factory) -> Path:
    """A plain folder of mp4s: part 0's videos, a truncated copy and an empty file."""
    folder = tmp_path_factory.mktemp("inbox")
    for p in sorted((synth_corpus / "dfdc_train_part_0").glob("*.mp4")):
        shutil.copy(p, folder / p.name)
    first = sorted(folder.glob("*.mp4"))[0].read_bytes()
    (folder / "zz_truncated.mp4").write_bytes(first[: len(first) // 3])
    (folder / "zz_empty.mp4").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def local_submission(frame_run, inbox, tmp_path_factory) -> Path:
    from dfprep.train.predict import predict

    out = tmp_path_factory.mktemp("pred") / "submission.csv"
    predict(frame_run, inbox, out, frames=FRAMES, workers=0, device="cpu")
    return out


def test_list_videos_layouts(synth_corpus, tmp_path):
    from dfprep.train.predict import PredictError, list_videos

    names = [p.name for p in list_videos(synth_corpus)]  # a ROOT of parts
    assert len(names) == 16 and names == sorted(names)
    assert [p.name for p in list_videos(synth_corpus / "dfdc_train_part_1")] == \
        sorted(p.name for p in (synth_corpus / "dfdc_train_part_1").glob("*.mp4"))
    clash = tmp_path / "clash"
    for n in (0, 1):
        (clash / f"dfdc_train_part_{n}").mkdir(parents=True)
        (clash / f"dfdc_train_part_{n}" / "same.mp4").write_bytes(b"x")
    with pytest.raises(PredictError, match="same.mp4"):
        list_videos(clash)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictError, match="no .mp4"):
        list_videos(tmp_path / "empty")


def test_model_units_cut_clips_like_the_shards():
    import pyarrow as pa

    from dfprep.train.predict import model_units

    faces = pa.table({"track_id": [0, 1, 0, 0, 1, 0, 0], "frame_idx": [5, 5, 0, 9, 9, 3, 7]})
    assert model_units(faces, "frame", 2) == [[i] for i in range(7)]
    # track 0 in frame order: rows 2(f0) 5(f3) 0(f5) 6(f7) 3(f9); windows of 2, tail dropped; track 1 has one
    assert model_units(faces, "clip", 2) == [[2, 5], [0, 6], [1, 4]]
    # no full window anywhere: each track whole
    assert model_units(faces, "clip", 8) == [[2, 5, 0, 6, 3], [1, 4]]
    # the shards side cuts the same windows from the same crops (one video, so a track is its track_id)
    import numpy as np

    from dfprep.shards.samples import clip_units

    n = faces.num_rows
    shards_side = clip_units(np.zeros(n, np.int64), np.zeros(n, np.int64), faces.column("track_id").to_numpy(),
                             faces.column("frame_idx").to_numpy(), 2)
    assert shards_side.tolist() == model_units(faces, "clip", 2)


def test_submission_has_every_video_and_matches_the_ingest_crops(local_submission, inbox, frame_run, ingest_work,
                                                                synth_corpus):
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import decode_jpeg_bytes, to_input

    header, rows = _read_csv(local_submission)
    assert header == ["filename", "label"]
    assert list(rows) == sorted(p.name for p in inbox.glob("*.mp4"))  # one row per video, sorted
    no_face = _synth_videos(synth_corpus, "no_face")
    defaulted = {"zz_truncated.mp4", "zz_empty.mp4", *no_face}
    assert no_face and all(rows[n] == 0.5 for n in defaulted)
    report = json.loads((local_submission.parent / "submission.csv.report.json").read_text())
    reasons = {d["filename"]: d["reason"] for d in report["defaulted"]}
    assert set(reasons) == defaulted
    assert all("no face" in reasons[n] for n in no_face) and "not decoded" in reasons["zz_empty.mp4"]
    assert report["config"]["video_agg"] == "mean" and report["videos"] == len(rows)

    # Every scored video's probability is the mean of the model over the crops ingest stored for it.
    model, cfg = load_model(frame_run)
    faces = ds.dataset(ingest_work / "faces.parquet").to_table(filter=ds.field("part") == 0)
    scored = [n for n in rows if n not in defaulted]
    assert len(scored) >= 4
    for name in scored:
        jpegs = faces.filter(ds.field("video") == name).column("jpeg").to_pylist()
        assert jpegs, name
        x = to_input(torch.stack([decode_jpeg_bytes(b) for b in jpegs]), cfg["input_size"])
        with torch.no_grad():
            expected = torch.sigmoid(model(x)).mean().item()
        assert rows[name] == pytest.approx(expected, abs=2e-6), name
        assert rows[name] > 0.5 and report["per_video"][name]["n_scored"] == len(jpegs)


def test_predict_cli_on_ray_matches_in_process(local_submission, inbox, frame_run, synth_corpus, tmp_path):
    import ray

    folder = tmp_path / "few"
    folder.mkdir()
    names = [_synth_videos(synth_corpus, "single_face")[0], _synth_videos(synth_corpus, "no_face")[0],
             "zz_truncated.mp4"]
    for n in names:
        shutil.copy(inbox / n, folder / n)
    out = tmp_path / "sub" / "ray.csv"
    # A local Ray of our own (2 CPUs: a detector and a decode worker), whatever cluster other processes on this
    # machine may have started; predict uses the Ray it finds initialised.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        res = _cli("predict", str(frame_run), str(folder), "--out", str(out), "--frames", str(FRAMES),
                   "--device", "cpu", "--no-progress")
    finally:
        ray.shutdown()
    assert res.exit_code == 0, res.output
    assert "warning zz_truncated.mp4: not decoded" in res.text
    header, rows = _read_csv(out)
    _, local = _read_csv(local_submission)
    assert header == ["filename", "label"] and list(rows) == sorted(names)
    for n in names:
        assert rows[n] == pytest.approx(local[n], abs=2e-6), n
    assert (tmp_path / "sub" / "ray.csv.report.json").is_file()
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".tmp-")]  # journal removed


def test_predict_clip_model_scores_clips(clip_run, synth_corpus):
    from dfprep.faces.detectors import MTCNNDetector
    from dfprep.train.checkpoint import load_model
    from dfprep.train.predict import ingest_config, predict_videos

    model, cfg = load_model(clip_run)
    video = synth_corpus / "dfdc_train_part_0" / _synth_videos(synth_corpus, "single_face")[0]
    scores = predict_videos(model, cfg, [video], ingest_config(FRAMES), MTCNNDetector().detect)
    s = scores[video.name]
    assert s.reason is None and 0.0 < s.prob < 1.0
    assert s.n_scored == s.n_faces // 4 >= 1  # non-overlapping windows of clip_len 4 of one track


def _sklearn(y, p, thr=0.5):
    y, p = np.asarray(y), np.asarray(p)
    pred = (p >= thr).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {"log_loss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)), "accuracy": accuracy_score(y, pred),
            "precision": precision_score(y, pred, zero_division=0), "recall": recall_score(y, pred),
            "f1": f1_score(y, pred), "roc_auc": roc_auc_score(y, p), "specificity": tn / (tn + fp),
            "fpr": fp / (tn + fp), "n": len(y), "n_fake": int(y.sum()), "n_real": int(len(y) - y.sum())}


def _labels(corpus: Path) -> dict[str, int]:
    out = {}
    for meta in sorted(corpus.glob("dfdc_train_part_*/metadata.json")):
        out.update({k: int(v["label"] == "FAKE") for k, v in json.loads(meta.read_text()).items()})
    return out


def test_evaluate_equals_sklearn(synth_corpus, local_submission, tmp_path):
    labels = _labels(synth_corpus)
    names = sorted(labels)
    rng = np.random.default_rng(0)
    probs = {n: float(rng.uniform()) for n in names}
    probs[names[0]] = 0.0  # exercises the DFDC clipping of the log loss
    dropped = names[1]
    sub = tmp_path / "sub.csv"
    lines = ["filename,label"] + [f"{n},{probs[n]!r}" for n in names if n != dropped] + ["stranger.mp4,0.3"]
    sub.write_text("\n".join(lines) + "\n")
    out = tmp_path / "m" / "metrics.json"
    res = _cli("evaluate", str(sub), str(synth_corpus), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "log_loss" in res.text and "stranger.mp4" in res.text and dropped in res.text
    r = json.loads(out.read_text())
    kept = [n for n in names if n != dropped]
    expected = _sklearn([labels[n] for n in kept], [probs[n] for n in kept])
    assert r["missing"] == [dropped] and r["extra"] == ["stranger.mp4"] and r["matched"] == len(kept)
    for k, v in expected.items():
        assert r["metrics"][k] == pytest.approx(v, rel=1e-12, abs=1e-12), k

    # ... and on the predictions of `predict` against part 0's labels (the rows of broken files are extras)
    from dfprep.train.evaluate import evaluate_submission

    r = evaluate_submission(local_submission, synth_corpus / "dfdc_train_part_0")
    _, rows = _read_csv(local_submission)
    part0 = {k: v for k, v in labels.items() if k in rows}
    expected = _sklearn([part0[n] for n in sorted(part0)], [rows[n] for n in sorted(part0)])
    assert r["extra"] == ["zz_empty.mp4", "zz_truncated.mp4"] and r["missing"] == []
    for k, v in expected.items():
        assert r["metrics"][k] == pytest.approx(v, rel=1e-12, abs=1e-12), k


@pytest.mark.parametrize("text,match", [
    ("file,prob\na.mp4,0.5\n", ":1: header"),
    ("filename,label\na.mp4,0.5\nb.mp4,half\n", ":3: label 'half' of b.mp4 is not a number"),
    ("filename,label\na.mp4,1.5\n", ":2: .*not a probability"),
    ("filename,label\na.mp4,nan\n", ":2: .*not a probability"),
    ("filename,label\na.mp4,0.1\na.mp4,0.2\n", ":3: a.mp4 appears more than once"),
    ("filename,label\na.mp4,0.1,x\n", ":2: expected 2 fields"),
    ("", "empty file"),
])
def test_evaluate_rejects_bad_submissions(synth_corpus, tmp_path, text, match):
    from dfprep.train.evaluate import EvaluateError, evaluate_submission

    sub = tmp_path / "bad.csv"
    sub.write_text(text)
    with pytest.raises(EvaluateError, match=match) as err:
        evaluate_submission(sub, synth_corpus)
    assert str(sub) in str(err.value)
    res = _cli("evaluate", str(sub), str(synth_corpus))
    assert res.exit_code == 2 and f"error: {sub}" in res.text


def test_explain_frame_model_on_a_crop_and_a_video(frame_run, ingest_work, synth_corpus, tmp_path):
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import decode_jpeg_bytes
    from dfprep.train.explain import gradcam_maps

    faces = ds.dataset(ingest_work / "faces.parquet").to_table(columns=["video", "frame_idx", "track_id", "jpeg"])
    crop_jpeg = faces.column("jpeg")[0].as_py()
    crop = tmp_path / "crop.jpg"
    crop.write_bytes(crop_jpeg)
    model, cfg = load_model(frame_run)
    maps, maxima, probs = gradcam_maps(model, cfg, decode_jpeg_bytes(crop_jpeg)[None])
    assert maps.shape == (1, 224, 224) and maxima[0] > 0 and maps.std() > 0.01 and maps.max() == 1.0
    assert probs[0] > 0.5

    out = tmp_path / "ex"
    res = _cli("explain", str(frame_run), str(crop), "--out", str(out), "--device", "cpu")
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    assert [it["file"] for it in index["items"]] == ["crop_f0_t0.png"]
    assert index["items"][0]["prob_fake"] == pytest.approx(probs[0], abs=1e-5)
    png = np.asarray(Image.open(out / "crop_f0_t0.png"))
    original = np.asarray(Image.open(crop).convert("RGB")).astype(np.int16)
    assert png.shape == original.shape == (224, 224, 3)
    tint = png.astype(np.int16) - original
    assert tint.std() > 5  # the heatmap varies over the crop; an overlay of a constant map would not

    video = synth_corpus / "dfdc_train_part_0" / _synth_videos(synth_corpus, "multi_face")[0]
    res = _cli("explain", str(frame_run), str(video), "--out", str(out), "--frames", "2", "--device", "cpu")
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    assert index["unit"] == "frame" and len(index["items"]) == 4  # 2 frames x 2 faces
    assert {(it["frame_idx"], it["track_id"]) for it in index["items"]} == \
        {(f, t) for f in {it["frame_idx"] for it in index["items"]} for t in (0, 1)}
    for it in index["items"]:
        assert it["file"] == f"{video.stem}_f{it['frame_idx']}_t{it['track_id']}.png"
        assert Image.open(out / it["file"]).size == (224, 224) and it["cam_max"] > 0


def test_explain_clip_model_per_frame_and_refuses_an_image(clip_run, synth_corpus, tmp_path):
    from dfprep.train.explain import ExplainError, explain

    video = synth_corpus / "dfdc_train_part_0" / _synth_videos(synth_corpus, "single_face")[0]
    out = tmp_path / "ex"
    index = explain(clip_run, video, out, frames=2, device="cpu")  # a clip model samples clip_len frames
    assert index["unit"] == "clip" and len(index["items"]) == 4
    assert len({it["frame_idx"] for it in index["items"]}) == 4 and {it["clip"] for it in index["items"]} == {0}
    assert len({round(it["prob_fake"], 9) for it in index["items"]}) == 1  # one clip, one probability
    for it in index["items"]:
        assert np.asarray(Image.open(out / it["file"])).shape == (224, 224, 3)
    img = tmp_path / "face.png"
    Image.new("RGB", (64, 64), (120, 90, 80)).save(img)
    with pytest.raises(ExplainError, match="clip .*model"):
        explain(clip_run, img, tmp_path / "no", device="cpu")
    res = _cli("explain", str(clip_run), str(tmp_path / "nothere.mp4"), "--out", str(tmp_path / "no"))
    assert res.exit_code == 2 and "nothere.mp4: not found" in res.text

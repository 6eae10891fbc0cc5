"""predict / evaluate / explain on synth videos with real MTCNN faces and small real models (no mocks)."""
from __future__ import annotations

import csv
import io
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

from dfprep.formats.run import write_config
from dfprep.train.checkpoint import save_model
from dfprep.train.models import build_model

runner = CliRunner()
FRAMES = 8  # as the session's ingest_work fixture, so its crops are the ones predict must find


def _cli(*args: str):
    """`dfprep predict|evaluate|explain ...` as registered (errors through dfprep.cli's one handler)."""
    from dfprep.cli import app

    res = runner.invoke(app, list(args))
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
    write_config(run, {"model": "smallcnn", "unit": "frame", "clip_len": None, "input_size": 64,
                      "video_agg": "mean"})
    return run


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    run = tmp_path_factory.mktemp("run_clip")
    save_model(run, build_model("smallcnn", unit="clip", clip_len=4))
    write_config(run, {"model": "smallcnn", "unit": "clip", "clip_len": 4, "rnn": "gru", "input_size": 64})
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
    from dfprep.inference.predict import predict

    out = tmp_path_factory.mktemp("pred") / "submission.csv"
    predict(frame_run, inbox, out, frames=FRAMES, workers=0, device="cpu")
    return out


def test_list_videos_layouts(synth_corpus, tmp_path):
    from dfprep.inference.inputs import PredictError, list_videos

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

    from dfprep.inference.predict import model_units

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
    from dfprep.inference.predict import ingest_config, predict_videos

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
    from dfprep.inference.evaluate import evaluate_submission

    r = evaluate_submission(local_submission, synth_corpus / "dfdc_train_part_0")
    _, rows = _read_csv(local_submission)
    part0 = {k: v for k, v in labels.items() if k in rows}
    expected = _sklearn([part0[n] for n in sorted(part0)], [rows[n] for n in sorted(part0)])
    assert r.extra == ["zz_empty.mp4", "zz_truncated.mp4"] and r.missing == []
    for k, v in expected.items():
        assert r.metrics[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k


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
    from dfprep.inference.evaluate import EvaluateError, evaluate_submission

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
    from dfprep.inference.explain import gradcam_maps

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
    from dfprep.inference.explain import ExplainError, explain

    video = synth_corpus / "dfdc_train_part_0" / _synth_videos(synth_corpus, "single_face")[0]
    out = tmp_path / "ex"
    index = explain(clip_run, video, out, frames=2, device="cpu")  # a clip model samples clip_len frames
    assert index.unit == "clip" and len(index.items) == 4
    assert len({it.frame_idx for it in index.items}) == 4 and {it.clip for it in index.items} == {0}
    assert len({round(it.prob_fake, 9) for it in index.items}) == 1  # one clip, one probability
    for it in index.items:
        assert np.asarray(Image.open(out / it.file)).shape == (224, 224, 3)
    img = tmp_path / "face.png"
    Image.new("RGB", (64, 64), (120, 90, 80)).save(img)
    with pytest.raises(ExplainError, match="clip .*model"):
        explain(clip_run, img, tmp_path / "no", device="cpu")
    res = _cli("explain", str(clip_run), str(tmp_path / "nothere.mp4"), "--out", str(tmp_path / "no"))
    assert res.exit_code == 2 and "nothere.mp4: not found" in res.text


def test_error_lines_print_markup_in_paths_literally(tmp_path):
    """A path holding rich markup (`[/x]`, a closing tag with nothing open, makes rich raise) is printed as text in
    the one error line of predict and explain, never interpreted."""
    run = tmp_path / "[/x]run"
    face = tmp_path / "[bold]face.jpg"
    for args, shown in ((["predict", str(run), str(tmp_path), "--out", str(tmp_path / "s.csv")], str(run)),
                        (["explain", str(run), str(face), "--out", str(tmp_path / "ex")], str(face))):
        res = _cli(*args)
        assert res.exit_code == 2, (res.output, res.exception)     # not 1 with rich's MarkupError
        assert res.output.startswith("error: ") and shown in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1


# --- the same crops at train and predict time -------------------------------------------------------------------

CROP = {"margin": 0.2, "crop_size": 160, "det_size": 480, "max_faces": 1}   # every one differs from the defaults
CROP_FRAMES = 4


@pytest.fixture(scope="module")
def cropped_run(synth_corpus, tmp_path_factory) -> tuple[Path, Path]:
    """(WORK, RUN): part 0 ingested with non-default crop settings, sharded, and a 1-epoch small CNN on it."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    base = tmp_path_factory.mktemp("cropped")
    work, shards, run = base / "work", base / "shards", base / "run"
    ingest(synth_corpus, work, IngestConfig(parts="0", frames=CROP_FRAMES, num_cpus=2, progress=False, **CROP))
    make_shards(work, shards, ShardsConfig(split="1", samples_per_shard=8, use_ray=False, progress=False))
    train(shards, run, TrainConfig(model="smallcnn", epochs=1, batch_size=8, input_size=32, workers=0,
                                   device="cpu", augment=False, progress=False))
    return work, run


def _store_crops(work: Path) -> dict:
    faces = ds.dataset(work / "faces.parquet").to_table(columns=["video", "frame_idx", "track_id", "jpeg"])
    return {(r["video"], r["frame_idx"], r["track_id"]): r["jpeg"] for r in faces.to_pylist()}


def test_run_records_the_ingest_settings(cropped_run):
    from dfprep.formats.work.runjson import read_run_json
    from dfprep.formats.run import read_run_config

    work, run = cropped_run
    recorded = read_run_json(work)
    cfg = read_run_config(run)
    assert cfg.ingest == recorded.recorded() and cfg.ingest.fingerprint == recorded.fingerprint
    assert {k: getattr(cfg.ingest.settings, k) for k in CROP} == CROP and cfg.ingest.settings.threshold == 0.95
    config = json.loads((run / "config.json").read_text())
    assert config["ingest"]["settings"]["margin"] == 0.2 and config["ingest"]["fingerprint"] == recorded.fingerprint


def test_predict_cuts_the_ingest_crops_byte_for_byte(cropped_run, synth_corpus, tmp_path):
    from dfprep.dataset import file_entry
    from dfprep.faces.detectors import MTCNNDetector
    from dfprep.ingest.video import process_video
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import decode_jpeg_bytes, to_input
    from dfprep.inference.predict import crop_settings, ingest_config, predict, read_run

    work, run = cropped_run
    store = _store_crops(work)
    settings, warning = crop_settings(read_run(run))
    assert warning is None and {k: settings[k] for k in CROP} == CROP
    icfg = ingest_config(CROP_FRAMES, settings)
    det = MTCNNDetector(min_face_size=icfg.min_face_size)
    part0 = sorted((synth_corpus / "dfdc_train_part_0").glob("*.mp4"))
    cut = {}
    for path in part0:              # the crop path of predict_videos: process_video with the run's settings
        _, faces, _ = process_video(file_entry(path), icfg, det.detect)
        for r in faces.select(["video", "frame_idx", "track_id", "jpeg"]).to_pylist():
            cut[(r["video"], r["frame_idx"], r["track_id"])] = r["jpeg"]
    assert cut.keys() == store.keys() and len(cut) >= 8
    assert all(cut[k] == store[k] for k in store)                        # byte-identical JPEGs
    assert {Image.open(io.BytesIO(b)).size for b in cut.values()} == {(160, 160)}
    assert len({k[:2] for k in cut}) == len(cut)                         # max_faces 1: one face per frame

    # predict itself: the report says which settings it cut with, and every score is the model on the stored crops
    folder = tmp_path / "in"
    folder.mkdir()
    for p in part0:
        shutil.copy(p, folder / p.name)
    out = tmp_path / "sub.csv"
    report = predict(run, folder, out, frames=CROP_FRAMES, workers=0, device="cpu")
    assert report.crop == settings and report.crop_from == "run" and report.warnings == ()
    assert report.config["det_size"] == 480 and report.record["crop"] == settings
    model, cfg = load_model(run)
    _, rows = _read_csv(out)
    for name, prob in rows.items():
        jpegs = [b for (v, _, _), b in sorted(store.items()) if v == name]
        if not jpegs:
            assert prob == 0.5
            continue
        with torch.no_grad():
            x = to_input(torch.stack([decode_jpeg_bytes(b) for b in jpegs]), cfg.input_size)
            assert prob == pytest.approx(torch.sigmoid(model(x)).mean().item(), abs=2e-6), name


@pytest.mark.parametrize("option,given,recorded", [("--margin", "0.3", "0.2"), ("--det-size", "960", "480"),
                                                   ("--crop-size", "224", "160"), ("--max-faces", "2", "1")])
def test_a_forced_crop_setting_that_differs_is_refused(cropped_run, synth_corpus, tmp_path, option, given, recorded):
    _, run = cropped_run
    video = synth_corpus / "dfdc_train_part_0" / _synth_videos(synth_corpus, "single_face")[0]
    for args in (["predict", str(run), str(video.parent), "--out", str(tmp_path / "s.csv")],
                 ["explain", str(run), str(video), "--out", str(tmp_path / "ex")]):
        res = _cli(*args, option, given, "--device", "cpu")
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert res.exit_code == 2 and len(lines) == 1, res.output
        assert option in lines[0] and given in lines[0] and f" {recorded} " in lines[0], lines[0]
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "ex").exists()
    # the run's own value, given explicitly, is accepted
    from dfprep.inference.predict import crop_settings, read_run

    name = option[2:].replace("-", "_")
    settings, _ = crop_settings(read_run(run), {name: type(CROP[name])(recorded)})
    assert settings[name] == CROP[name]


def test_explain_cuts_the_ingest_crops(cropped_run, synth_corpus, tmp_path):
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import decode_jpeg_bytes
    from dfprep.inference.explain import explain, explain_video
    from dfprep.inference.predict import crop_settings, read_run

    work, run = cropped_run
    store = _store_crops(work)
    video = synth_corpus / "dfdc_train_part_0" / _synth_videos(synth_corpus, "multi_face")[0]
    model, cfg = load_model(run)
    items = explain_video(model, cfg, video, CROP_FRAMES, crop_settings(read_run(run))[0])
    mine = {k: b for k, b in store.items() if k[0] == video.name}
    assert {(video.name, e.frame_idx, e.track_id) for e in items} == mine.keys() and items
    for e in items:
        assert np.array_equal(e.crop, decode_jpeg_bytes(mine[(video.name, e.frame_idx, e.track_id)])
                              .permute(1, 2, 0).numpy())
    index = explain(run, video, tmp_path / "ex", frames=CROP_FRAMES, device="cpu")
    assert index.crop["margin"] == 0.2 and index.warnings == []
    assert {(it.width, it.height) for it in index.items} == {(160, 160)}


def test_a_run_without_recorded_settings_uses_the_defaults_with_a_warning(frame_run, local_submission):
    from dfprep.ingest.config import IngestConfig, IngestSettings
    from dfprep.inference.predict import crop_settings, read_run

    report = json.loads((local_submission.parent / "submission.csv.report.json").read_text())
    assert report["crop_from"] == "defaults" and report["crop"] == IngestSettings.of(IngestConfig()).crop()
    assert len(report["warnings"]) == 1 and "records no ingest settings" in report["warnings"][0]
    assert "\n" not in report["warnings"][0]
    settings, warning = crop_settings(read_run(frame_run), {"margin": 0.2})    # no run value to refuse it
    assert settings["margin"] == 0.2 and "--margin 0.2" in warning


def test_ingest_settings_cover_output_settings():
    from dfprep.ingest.config import CROP_SETTINGS, IngestConfig, IngestSettings

    for cfg in (IngestConfig(), IngestConfig(detector="dlib", margin=0.1, parts="0-2")):
        assert IngestSettings.of(cfg).as_dict() == cfg.output_settings()
    assert set(CROP_SETTINGS) <= set(IngestConfig().output_settings())


def test_typed_readers_name_the_file_and_the_key(cropped_run, frame_run, tmp_path):
    from dfprep.formats.run import RunError, read_run_config
    from dfprep.formats.work.names import WorkError
    from dfprep.formats.work.runjson import read_run_json

    work, run = cropped_run
    # RUN/config.json: a missing key, a mistyped key, a mistyped recorded ingest setting
    for edit, key in ((lambda c: c.pop("input_size"), "input_size"),
                      (lambda c: c.update(unit=3), "unit"),
                      (lambda c: c["ingest"]["settings"].update(margin="wide"), "ingest.settings.margin")):
        bad = tmp_path / f"run_{key}"
        shutil.copytree(run, bad)
        config = json.loads((bad / "config.json").read_text())
        edit(config)
        (bad / "config.json").write_text(json.dumps(config))
        with pytest.raises(RunError, match=f"config.json: key '{key}'") as err:
            read_run_config(bad)
        assert "\n" not in str(err.value) and str(bad) in str(err.value)
        res = _cli("predict", str(bad), str(tmp_path), "--out", str(tmp_path / "x.csv"))
        assert res.exit_code == 2 and f"key '{key}'" in res.text and len(res.output.strip().splitlines()) == 1
    with pytest.raises(RunError, match="config.json: not found"):
        read_run_config(tmp_path / "nowhere")
    # WORK/run.json: read back as written; an older one (no `settings`) from its config; a missing fingerprint
    rec = read_run_json(work)
    assert rec.settings.crop_size == 160 and rec.root and isinstance(rec.problems, tuple)
    old = tmp_path / "oldwork"
    old.mkdir()
    summary = json.loads((work / "run.json").read_text())
    summary.pop("settings")
    (old / "run.json").write_text(json.dumps(summary))
    assert read_run_json(old).settings == rec.settings
    summary.pop("fingerprint")
    (old / "run.json").write_text(json.dumps(summary))
    with pytest.raises(WorkError, match="run.json: key 'fingerprint' is missing"):
        read_run_json(old)

"""`dfprep predict`, `dfprep evaluate`, `dfprep explain`: thin Typer layers over predict.py, evaluate.py (a
submission) or runeval.py (a RUN: the cross-dataset matrix), explain.py."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dfprep.inference.config import EvaluateConfig, ExplainConfig, PredictConfig
from dfprep.options import StoragePath, argument, command, option


def _console() -> Console:
    """Messages name files (paths, CSV rows, metadata keys): no wrapping inside a path, no highlighting."""
    return Console(soft_wrap=True, highlight=False)


def _warn(console: Console, text: str) -> None:
    console.print(f"  [yellow]warning[/yellow] {escape(text)}")


def _predict(cfg: PredictConfig, run: Path, input: Path, out: Path) -> None:
    """Score every video: P(FAKE) per file in the Kaggle DFDC submission format; 0.5 when no face or unreadable."""
    from dfprep.inference.predict import predict, report_path

    console = _console()
    s = predict(run, input, out, **cfg.predict_kwargs())
    for w in s.warnings:
        _warn(console, w)
    for d in s.defaulted:
        _warn(console, f"{d.filename}: {d.reason}; written as 0.5")
    console.print(f"{s.videos} videos ({s.scored} scored by the model, {len(s.defaulted)} at 0.5) "
                  f"in {s.seconds:.1f} s")
    console.print(escape(f"submission: {out}\n    report: {report_path(out)}"))


def _evaluate(cfg: EvaluateConfig, input, root, out) -> None:
    """Score a submission against the labels in metadata.json (DFDC log loss, accuracy, precision, recall, AUC),
    or a RUN on the test split of SHARDS: the cross-dataset matrix (matrix.csv, matrix.json, matrix.png)."""
    from dfprep.storage import as_path

    if as_path(input).is_dir():                  # a submission is a file; a RUN a folder (config.json, model.pt)
        return _evaluate_run(cfg, input, root, out)
    if root is None:
        from dfprep.inference.evaluate import EvaluateError

        raise EvaluateError(f"{input}: a submission needs the ROOT whose metadata.json labels it (or give a RUN "
                            "folder of `dfprep train`)")
    _evaluate_submission(cfg, input, root, out)


def _evaluate_submission(cfg: EvaluateConfig, submission, root, out) -> None:
    from dfprep.atomic import write_json
    from dfprep.inference.evaluate import evaluate_submission, show_names
    from dfprep.train.metrics import shown

    console = _console()
    r = evaluate_submission(submission, root, **cfg.submission_kwargs())
    t = Table(title=escape(f"dfprep evaluate {submission}"))
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in r.metrics.items():
        t.add_row(k, "n/a" if v is None else shown(v))             # --out keeps every digit
    t.add_row("labelled, no row", str(len(r.missing)))
    t.add_row("row, no label", str(len(r.extra)))
    console.print(t)
    for names, what in ((r.missing, "labelled but not in the submission"), (r.extra, "in the submission, no label")):
        if names:
            _warn(console, f"{len(names)} {what}: {show_names(names, 10)}")
    for w in r.warnings[:10]:
        _warn(console, w)
    if out:
        write_json(out, r.as_json())
        console.print(f"metrics: {escape(str(out))}")


def _evaluate_run(cfg: EvaluateConfig, run, shards, out) -> None:
    from dfprep.inference.evaluate import EvaluateError
    from dfprep.inference.runeval import evaluate_run, row_label
    from dfprep.train.metrics import shown

    if cfg.strict:
        raise EvaluateError("--strict applies to a submission, not to a RUN")
    console = _console()
    s = evaluate_run(run, shards, out, **cfg.run_kwargs())
    agg = s.video_agg
    t = Table(title=escape(f"dfprep evaluate {run}: {s.split} split of {s.shards}"))
    heads = ["dataset", "method", "videos", "frames", "REAL", "FAKE", "frame AUC", f"video AUC ({agg})",
             "frame EER", "frame AP", "video log loss", "video acc"]
    for i, h in enumerate(heads):
        t.add_column(h, justify="left" if i < 2 else "right")
    for r in s.rows:
        v = f"video_{agg}_"
        t.add_row(*(escape(x) for x in row_label(r)), str(r["videos"]), str(r["frames"]), str(r["real_videos"]),
                  str(r["fake_videos"]), *(shown(r[k]) for k in ("frame_auc", v + "auc", "frame_eer", "frame_ap",
                                                                  v + "log_loss", v + "accuracy")))
    console.print(t)
    for r in s.rows:
        if r["note"]:
            _warn(console, f"{' / '.join(x for x in row_label(r) if x)}: {r['note']}")
    for w in s.warnings:
        _warn(console, w)
    if s.repeats_dropped:
        console.print(f"{s.samples} samples scored; {s.repeats_dropped} oversampled copies (repeat > 0) left out")
    if not s.own_shards:
        console.print(escape(f"cross-dataset: the run was trained on other shards; {s.model_selection} "
                             f"(epoch {s.best_epoch})"))
    for path in s.outputs(out if out is not None else run).values():
        console.print(escape(f"wrote {path}"))


def _explain(cfg: ExplainConfig, run: Path, path: Path, out: Path) -> None:
    """Grad-CAM heatmaps of the FAKE logit over face crops, as PNG overlays."""
    from dfprep.inference.explain import explain

    console = _console()
    index = explain(run, path, out, **cfg.explain_kwargs())
    for w in index.warnings:
        _warn(console, w)
    for it in index.items:
        console.print(escape(f"{out / it.file}  P(FAKE)={it.prob_fake:.3f}"))
    console.print(escape(f"index: {out / 'index.json'}"))


predict_command = command(PredictConfig, _predict, leading=[
    argument("run", StoragePath, "RUN folder written by `dfprep train` (config.json, model.pt)."),
    argument("input", StoragePath, "A folder of mp4s, a DFDC part folder, or a ROOT of dfdc_train_part_*."),
    option("out", StoragePath, "submission.csv", "--out", "-o", help="Submission CSV (filename,label).")])

evaluate_command = command(EvaluateConfig, _evaluate, leading=[
    argument("input", StoragePath, "submission.csv (filename,label), or a RUN folder written by `dfprep train`."),
    argument("root", Optional[StoragePath], "With a submission: a DFDC part folder (metadata.json) or a ROOT of "
             "dfdc_train_part_*. With a RUN: the SHARDS to score (default: the run's own; another WORK's shards "
             "score it cross-dataset).", default=None),
    option("out", Optional[StoragePath], None, "--out", "-o", help="Submission: also write the metrics as JSON "
           "here. RUN: the folder for matrix.csv/json/png (default: RUN).")])

explain_command = command(ExplainConfig, _explain, leading=[
    argument("run", StoragePath, "RUN folder written by `dfprep train`."),
    argument("path", StoragePath, "A face-crop image (jpg/png) or a video."),
    option("out", StoragePath, ..., "--out", "-o", help="Folder for the PNG overlays and index.json.")])

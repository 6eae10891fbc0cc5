"""`train(shards, out, cfg)`: the library function behind `dfprep train SHARDS --out RUN`.

index.json -> model -> epochs of streamed train batches -> val metrics (frame and video level) each epoch ->
best model (lowest val video log loss) -> test metrics at the end. Checkpoints at each epoch's end and every
`checkpoint_every` steps hold the loader position and RNG states, so `resume` continues an interrupted run
on the same trajectory. Under torchrun each rank runs this function; rank 0 writes RUN/.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dfprep.dataset import SPLITS
from dfprep.errors import one_line
from dfprep.progress import StepBar
from dfprep.storage import AnyPath, StorageError, as_path
from dfprep.formats import run as o
from dfprep.formats.run import load_checkpoint, save_checkpoint, write_config
from dfprep.train.checkpoint import rng_state, save_model, set_rng_state, unwrap
from dfprep.train.config import TrainConfig, resume_mismatch
from dfprep.train.data import (LoaderConfig, SplitShards, eval_loader, read_index, split_shards, steps_per_epoch,
                               train_loader, usable_workers)
from dfprep.train.errors import BadShardError, TrainUsageError
from dfprep.train.ddp import Dist, barrier, broadcast_object, gather_objects, setup, teardown
from dfprep.train.metrics import frame_and_video, shown
from dfprep.train.models import build_model, load_weights, parameter_count
from dfprep.train.runstore import RunStore, run_folder, run_lease
from dfprep.train.summary import TrainSummary
from dfprep.train.trainer import Predictions, Trainer
from dfprep.versions import library_versions

if TYPE_CHECKING:
    from dfprep.formats.shards import ShardsIndex

LOG_EVERY = 20          # steps between loss flushes (one device sync each)


def train(shards: AnyPath, out: AnyPath, cfg: TrainConfig | None = None) -> TrainSummary:
    """Train on SHARDS (written by `dfprep shards`) into RUN=out; returns the summary metrics.json holds.

    Either may be remote (dfprep.storage): shards are streamed from the store, a remote RUN is written in a local
    staging folder and uploaded at each checkpoint and at the end (`dfprep.train.runstore`). A store that fails
    raises StorageError (one line); the same command with --resume continues once it is back."""
    cfg = cfg or TrainConfig()
    cfg.validate()
    shards = as_path(shards).resolve()
    d = setup(cfg.device)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        with run_lease(out, d), run_folder(out, cfg.resume, d.is_main) as store:
            return _train(shards, store, cfg, d)
    except BadShardError as exc:        # from a loader worker it carries the worker's traceback: keep one line
        raise type(exc)(one_line(exc)) from None
    except StorageError as exc:
        raise StorageError(f"{one_line(exc)} (the store failed, not the data: rerun with --resume once it is "
                           "reachable)") from None
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        teardown(d)


def resolve_config(shards: Path, cfg: TrainConfig, d: Dist, index: ShardsIndex) -> dict:
    """RUN/config.json: the settings plus what the shards and the machine fix (unit, clip_len, devices, weights)
    and the ingest settings the crops were cut with (`ingest`, from index.json; null when it records none)."""
    written_unit = index.unit
    if cfg.unit and cfg.unit != written_unit:
        raise TrainUsageError(f"--unit {cfg.unit}: the shards in {shards} hold {written_unit} samples")
    clip_len = index.clip_len if written_unit == "clip" else None
    if cfg.gpu_decode and d.device.type != "cuda":
        raise TrainUsageError("--gpu-decode needs a CUDA device")
    train_split = index.splits.get("train")
    real, fake = (train_split.real, train_split.fake) if train_split else (0, 0)
    if not real or not fake:
        raise TrainUsageError(f"the train split of {shards} has {real} REAL and {fake} FAKE samples; need both")
    weights = (1.0, 1.0) if cfg.class_weights == "none" else ((real + fake) / (2 * real), (real + fake) / (2 * fake))
    return {**cfg.as_dict(), "unit": written_unit, "clip_len": clip_len, "shards": str(shards),
            "augment": cfg.augment and not cfg.gpu_decode, "class_weights_used": {"REAL": weights[0], "FAKE": weights[1]},
            "index_class_weights": index.class_weights, "world_size": d.world_size, "device": str(d.device),
            "splits": {s: v.counts() for s, v in index.splits.items()},
            "ingest": index.ingest.as_dict() if index.ingest is not None else None,
            "versions": library_versions()}


def _seed_everything(seed: int, deterministic: bool, cuda: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        if cuda:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif cuda:
        torch.backends.cudnn.benchmark = True


def evaluate(trainer: Trainer, split: SplitShards, lcfg: LoaderConfig, d: Dist, agg: str,
             threshold: float) -> tuple[dict, Predictions]:
    """Frame- and video-level metrics over the whole split: each rank predicts its shards, all gather."""
    preds = trainer.predict(eval_loader(split, lcfg, d.world_size))
    merged = Predictions([], [], [], [])
    for p in gather_objects(d, preds):
        merged.extend(p)
    if len(merged.keys) != split.samples:
        raise RuntimeError(f"{split.name}: read {len(merged.keys)} samples, index.json lists {split.samples}")
    return frame_and_video(merged.videos, merged.labels, merged.probs, agg, threshold), merged


def _train(shards: AnyPath, store: RunStore, cfg: TrainConfig, d: Dist) -> TrainSummary:
    """The steps of a run, in order; each is a function or a method of `_Run` below."""
    t_start = time.perf_counter()
    config, splits, n_steps = _plan_run(shards, cfg, d)
    ckpt = _checkpoint_to_resume(store.local, cfg, config, shown=store.dest)
    _seed_everything(cfg.seed, cfg.deterministic, d.device.type == "cuda")
    trainer = _build_trainer(cfg, config, d, total_steps=n_steps * cfg.epochs)
    run = _Run(store, cfg, config, d, trainer, splits, n_steps)
    run.restore(ckpt)
    run.start_outputs(resumed=ckpt is not None)
    run.train_epochs()
    test = run.test_best_model()
    return run.finish(test, time.perf_counter() - t_start)


def _plan_run(shards: AnyPath, cfg: TrainConfig, d: Dist) -> tuple[dict, dict, int]:
    """RUN/config.json's content, the split readers and the steps per epoch, from index.json and the machine."""
    index = read_index(shards)
    config = resolve_config(shards, cfg, d, index)
    splits = {s: split_shards(shards, index, s) for s in SPLITS}
    tr = splits["train"]
    if tr is None:
        raise TrainUsageError(f"{shards}: the train split has no samples")
    config["workers_used"] = usable_workers(len(tr.urls), d.world_size, cfg.workers)
    n_steps = steps_per_epoch(tr, cfg.batch_size, d.world_size)
    config["steps_per_epoch"] = n_steps
    return config, splits, n_steps


def _checkpoint_to_resume(out: Path, cfg: TrainConfig, config: dict, shown: AnyPath | None = None) -> dict | None:
    """The last checkpoint of an interrupted run in OUT (with --resume and the same settings), or None. `shown`:
    the RUN as messages name it (a remote RUN's URI; OUT is then its staging folder)."""
    shown = out if shown is None else shown
    ckpt = load_checkpoint(out) if o.checkpoint_dir(out).is_dir() else None
    if ckpt is not None and not cfg.resume:
        raise TrainUsageError(f"{shown} already holds a run; use --resume to continue it, or another --out")
    if ckpt is not None:
        bad = resume_mismatch(ckpt["config"], config)
        if bad:
            raise TrainUsageError(f"cannot resume {shown} with other settings: {'; '.join(bad)}")
    return ckpt


def _build_trainer(cfg: TrainConfig, config: dict, d: Dist, total_steps: int) -> Trainer:
    model = build_model(cfg.model, config["unit"], config["clip_len"] or 8, cfg.rnn)
    config["parameters"] = parameter_count(model)
    if cfg.weights:
        config["weights_loaded"] = {k: v if k == "loaded" else len(v) for k, v in load_weights(model, cfg.weights).items()}
    return Trainer(model, d, lr=cfg.lr, weight_decay=cfg.weight_decay, total_steps=total_steps,
                   warmup_steps=int(cfg.warmup * total_steps), grad_clip=cfg.grad_clip,
                   class_weights=(config["class_weights_used"]["REAL"], config["class_weights_used"]["FAKE"]),
                   input_size=cfg.input_size, unit=config["unit"])


class _Run:
    """One run's moving state (position, history, best model) and the outputs it writes as it goes."""

    def __init__(self, store: RunStore, cfg: TrainConfig, config: dict, d: Dist, trainer: Trainer, splits: dict,
                 n_steps: int):
        self.store, self.out = store, store.local
        self.cfg, self.config, self.d, self.trainer, self.splits = cfg, config, d, trainer, splits
        self.n_steps = n_steps
        self.lcfg = LoaderConfig(unit=config["unit"], clip_len=config["clip_len"] or 1, size=cfg.input_size,
                                 batch_size=cfg.batch_size, workers=config["workers_used"], seed=cfg.seed,
                                 augment=config["augment"], augment_ops=cfg.augment_ops, augment_p=cfg.augment_p,
                                 shuffle_buffer=cfg.shuffle_buffer, gpu_decode=cfg.gpu_decode,
                                 pin_memory=d.device.type == "cuda", prefetch=cfg.prefetch,
                                 max_pixels=cfg.max_image_pixels)
        self.eval_cfg = replace(self.lcfg, batch_size=cfg.batch_size * 2)
        self.st = {"epoch": 0, "batches_done": 0, "step": 0, "history": [], "best": None,
                   "epoch_loss_sum": 0.0, "epoch_samples": 0, "epoch_seconds": 0.0, "shards_read": []}
        self.shards_read: set[str] = set()
        self.lrs: list[float] = []
        self.main = d.is_main
        self.bar = StepBar(False, 0, "")

    def restore(self, ckpt: dict | None) -> None:
        """Continue from a checkpoint: weights, optimiser, position, RNG states, shards read so far."""
        if ckpt is None:
            return
        d = self.d
        self.trainer.load_state_dict(ckpt)
        self.st.update({k: ckpt[k] for k in self.st})
        rngs = ckpt["rng"]
        set_rng_state(rngs[d.rank] if d.rank < len(rngs) else rngs[0])
        self.st["shards_read"] = ckpt["shards_read"][d.rank] if d.rank < len(ckpt["shards_read"]) else []
        self.shards_read = set(self.st["shards_read"])

    def start_outputs(self, resumed: bool) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.main:
            write_config(self.out, self.config)
        self.log = o.StepLog(self.out, self.st["step"]) if self.main else None
        self.board = o.Board(self.out if self.main else None, self.st["step"] + 1 if resumed else None)

    def checkpoint(self, epoch_end: bool) -> None:
        rngs = gather_objects(self.d, rng_state())
        read = gather_objects(self.d, sorted(self.shards_read))
        if self.main:
            state = {**self.trainer.state_dict(), **{k: v for k, v in self.st.items() if k != "shards_read"},
                     "rng": rngs, "shards_read": read, "config": self.config}
            self.board.flush()
            save_checkpoint(self.out, state, epoch_end, self.cfg.keep_checkpoints)
            self.store.sync()               # a remote RUN: what the checkpoint refers to, then the checkpoint
        barrier(self.d)

    def flush(self, epoch: int) -> None:
        """Losses since the last flush (one device sync), averaged over ranks, into the step log."""
        st, d = self.st, self.d
        losses = self.trainer.flush_losses()
        if d.distributed and losses:
            t = torch.tensor(losses, dtype=torch.float64, device=d.device)
            torch.distributed.all_reduce(t)
            losses = (t / d.world_size).tolist()
        st["epoch_loss_sum"] += float(sum(losses))
        first = st["step"] - len(losses) + 1
        rows = [{"step": first + i, "epoch": epoch + 1, "batch": st["batches_done"] - len(losses) + 1 + i,
                 "loss": round(v, 8), "lr": self.lrs[i]} for i, v in enumerate(losses)]
        self.lrs.clear()
        if self.main:
            self.log.append(rows)
            self.board.steps(rows)
        self.bar.info(self.loss_info())

    def loss_info(self) -> str:
        """The bar's text: the epoch's mean train loss so far (losses reach the host at each flush)."""
        n = self.st["batches_done"]
        return f"loss {shown(self.st['epoch_loss_sum'] / n)}" if n else ""

    def train_epochs(self) -> None:
        """Epochs of streamed batches; a resumed epoch replays its start; validation at each epoch's end."""
        st, cfg = self.st, self.cfg
        stopped = bool(cfg.max_steps and st["step"] >= cfg.max_steps)
        while st["epoch"] < cfg.epochs and not stopped:
            epoch = st["epoch"]
            loader = train_loader(self.splits["train"], self.lcfg, epoch, self.n_steps, self.d.world_size)
            t0 = time.perf_counter()
            batches = islice(iter(loader), st["batches_done"], None)     # loader workers fork before the bar's thread
            # batches per epoch are known from index.json's sample counts, so the bar has a total while streaming
            with StepBar(cfg.progress and self.main, self.n_steps, f"epoch {epoch + 1}/{cfg.epochs}",
                         completed=st["batches_done"], info=self.loss_info()) as self.bar:
                for batch in batches:
                    self.lrs.append(self.trainer.lr)
                    self.trainer.train_step(batch)
                    self.shards_read.update(Path(u).name for u in batch["url"])
                    st["step"] += 1
                    st["batches_done"] += 1
                    st["epoch_samples"] += len(batch["label"])
                    self.bar.advance()
                    if st["step"] % LOG_EVERY == 0:
                        self.flush(epoch)
                    if cfg.max_steps and st["step"] >= cfg.max_steps:
                        stopped = True
                    if (cfg.checkpoint_every and st["step"] % cfg.checkpoint_every == 0) or stopped:
                        self.flush(epoch)
                        st["epoch_seconds"] += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        if st["batches_done"] < self.n_steps:
                            self.checkpoint(epoch_end=False)
                    if stopped:
                        break
                self.flush(epoch)
            st["epoch_seconds"] += time.perf_counter() - t0
            if st["batches_done"] < self.n_steps:
                break                                                     # stopped mid-epoch
            _end_epoch(self.trainer, st, self.splits, self.eval_cfg, self.d, cfg, self.out, self.board, self.config)
            self.checkpoint(epoch_end=True)
        o.write_rank_shards(self.out, self.d.rank, sorted(self.shards_read))

    def test_best_model(self) -> dict | None:
        """Test-split metrics of the best model once every epoch is done (None: no test split, or stopped)."""
        if self.st["epoch"] >= self.cfg.epochs and self.splits["test"] is not None:
            return _test(self.trainer, self.splits["test"], self.eval_cfg, self.d, self.cfg, self.out, self.board,
                         self.st)
        return None

    def finish(self, test: dict | None, seconds: float) -> TrainSummary:
        if self.main and not (self.out / o.MODEL).is_file():
            save_model(self.out, self.trainer.model)                       # no val epoch yet: the last model
        summary = _summary(self.st, self.config, test, self.st["epoch"] >= self.cfg.epochs, seconds)
        if self.main:
            o.write_metrics(self.out, summary.as_json())
        self.board.close()
        barrier(self.d)
        return summary


def _end_epoch(trainer: Trainer, st: dict, splits: dict, eval_cfg: LoaderConfig, d: Dist, cfg: TrainConfig,
               out: Path, board: o.Board, config: dict) -> None:
    """Validate, record the epoch, keep the best model; then advance the loader position to the next epoch."""
    t0 = time.perf_counter()
    val, preds = (evaluate(trainer, splits["val"], eval_cfg, d, cfg.video_agg, cfg.threshold)
                  if splits["val"] is not None else (None, None))
    val_s = time.perf_counter() - t0
    epoch = st["epoch"]
    train = {"loss": st["epoch_loss_sum"] / max(1, st["batches_done"]), "samples": st["epoch_samples"],
             "seconds": st["epoch_seconds"]}
    st["history"].append(o.history_row(epoch + 1, st["step"], trainer.lr, train, val, val_s))
    score = val["video"]["log_loss"] if val else None
    # without a val split nothing chooses: each epoch's model replaces the last (never the test split's say)
    improved = (val is None or st["best"] is None
                or (score is not None and (st["best"]["score"] is None or score < st["best"]["score"])))
    if improved:
        st["best"] = {"epoch": epoch + 1, "step": st["step"], "score": score, "val": val}
    if d.is_main:
        o.write_history(out, st["history"])
        if val:
            board.evaluation("val", val, st["step"])
        if improved:
            save_model(out, trainer.model)
            if preds is not None:
                o.write_predictions(out / o.VAL_PREDICTIONS, preds.videos, preds.labels, preds.probs, cfg.video_agg)
        o.write_metrics(out, _summary(st, config, None, False, None, epoch_done=epoch + 1).as_json())
        if cfg.progress:
            v = val["video"] if val else {}
            print(f"epoch {epoch + 1}/{cfg.epochs} step {st['step']} loss {shown(train['loss'])} "
                  f"val video log_loss {shown(v.get('log_loss'))} auc {shown(v.get('roc_auc'))}", flush=True)
    st.update(epoch=epoch + 1, batches_done=0, epoch_loss_sum=0.0, epoch_samples=0, epoch_seconds=0.0)


def _test(trainer: Trainer, split: SplitShards, eval_cfg: LoaderConfig, d: Dist, cfg: TrainConfig, out: Path,
          board: o.Board, st: dict) -> dict:
    """Metrics of the best model (RUN/model.pt) on the test split."""
    barrier(d)
    state = o.read_model_state(out) if d.is_main else None
    state = broadcast_object(d, state)
    if state is not None:
        unwrap(trainer.model).load_state_dict(state)
    test, preds = evaluate(trainer, split, eval_cfg, d, cfg.video_agg, cfg.threshold)
    if d.is_main:
        o.write_predictions(out / o.TEST_PREDICTIONS, preds.videos, preds.labels, preds.probs, cfg.video_agg)
        board.evaluation("test", test, st["step"])
    return test


def _summary(st: dict, config: dict, test: dict | None, complete: bool, seconds: float | None,
             epoch_done: int | None = None) -> TrainSummary:
    return TrainSummary.of_state(st, config, test, complete, seconds, epoch_done)

"""A model and the training state as RUN holds them: rebuild a run's model, save the best one, capture and restore
the random generators a checkpoint carries. The files themselves (config.json, model.pt, checkpoints/) are the
RUN format's (`dfprep.formats.run`)."""
from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import nn

from dfprep.dataset import DEFAULT_CLIP_LEN
from dfprep.formats.run import RunConfig, read_model_state, read_run_config, write_model_state


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)


def save_model(run: Path, model: nn.Module) -> Path:
    """RUN/model.pt: the state_dict alone (tensors only)."""
    return write_model_state(run, {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()})


def load_model(run: Path, device: str | torch.device = "cpu",
               config: RunConfig | None = None) -> tuple[nn.Module, RunConfig]:
    """Rebuild RUN's model from config.json and load RUN/model.pt; returns (model in eval mode, config).
    `config`: RUN's config.json as the caller already read it (`read_run_config`), so it is read once. RUN may be
    remote: model.pt is then loaded from its bytes (a failing store: StorageError)."""
    from dfprep.train.models import build_model

    cfg = config if config is not None else read_run_config(run)
    model = build_model(cfg.model, unit=cfg.unit, clip_len=cfg.clip_len or DEFAULT_CLIP_LEN, rnn=cfg.rnn or "gru")
    model.load_state_dict(read_model_state(run))
    return model.to(device).eval(), cfg


def rng_state() -> dict:
    """The generators training draws from (dropout, any torch/python randomness), as weights_only-safe values."""
    state = {"torch": torch.get_rng_state(), "python": _to_lists(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())


def _to_lists(x):
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x):
    return tuple(_to_tuples(v) for v in x) if isinstance(x, (tuple, list)) else x

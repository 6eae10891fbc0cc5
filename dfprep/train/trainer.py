"""One rank's optimisation: model on its device, AdamW, warmup + cosine schedule, weighted BCE, clipping.

On CUDA the forward pass runs under bf16 autocast with channels_last tensors and non-blocking host copies;
the loss and the optimiser stay in float32. On CPU the same code runs in float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dfprep.train.checkpoint import unwrap
from dfprep.train.data import batch_to_device
from dfprep.train.ddp import Dist


def warmup_cosine(total_steps: int, warmup_steps: int):
    """LR factor per step: linear warmup to 1 over warmup_steps, then cosine down to 0 at total_steps."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


@dataclass
class Predictions:
    keys: list[str]
    videos: list[str]
    labels: list[int]
    probs: list[float]

    def extend(self, other: "Predictions") -> None:
        self.keys += other.keys
        self.videos += other.videos
        self.labels += other.labels
        self.probs += other.probs


class Trainer:
    def __init__(self, model: nn.Module, d: Dist, *, lr: float, weight_decay: float, total_steps: int,
                 warmup_steps: int, grad_clip: float, class_weights: tuple[float, float] | None,
                 input_size: int, unit: str):
        self.d = d
        self.device = d.device
        self.cuda = d.device.type == "cuda"
        self.input_size = input_size
        self.unit = unit
        self.grad_clip = grad_clip
        model = model.to(self.device)
        if self.cuda:
            model = model.to(memory_format=torch.channels_last)
        if d.distributed:
            model = nn.parallel.DistributedDataParallel(model, device_ids=[d.device.index] if self.cuda else None)
        self.model = model
        decay, no_decay = [], []
        for name, p in unwrap(model).named_parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)      # no weight decay on norms and biases
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, warmup_cosine(total_steps, warmup_steps))
        w = class_weights or (1.0, 1.0)
        self.class_w = torch.tensor(w, dtype=torch.float32, device=self.device)
        self._pending: list[torch.Tensor] = []

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else torch.autocast("cpu", enabled=False)

    def inputs(self, batch: dict) -> torch.Tensor:
        return batch_to_device(batch, self.device, self.input_size, self.unit, channels_last=self.cuda)

    def train_step(self, batch: dict) -> None:
        """One optimizer step; the loss is kept on the device until `flush_losses` (no sync per step)."""
        self.model.train()
        x = self.inputs(batch)
        y = batch["label"].to(self.device, non_blocking=True)
        with self.autocast():
            logits = self.model(x)
        per_sample = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none")
        loss = (per_sample * self.class_w[y.long()]).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self._pending.append(loss.detach())

    def flush_losses(self) -> list[float]:
        """Losses of the steps since the last flush, as floats (one device sync)."""
        if not self._pending:
            return []
        out = torch.stack(self._pending).float().cpu().tolist()
        self._pending = []
        return out

    @property
    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    @torch.no_grad()
    def predict(self, loader) -> Predictions:
        """FAKE probabilities for every sample the loader yields (this rank's share)."""
        model = unwrap(self.model)
        model.eval()
        out = Predictions([], [], [], [])
        for batch in loader:
            with self.autocast():
                logits = model(self.inputs(batch))
            out.extend(Predictions(list(batch["key"]), list(batch["video"]), batch["label"].long().tolist(),
                                   torch.sigmoid(logits.float()).cpu().tolist()))
        return out

    def state_dict(self) -> dict:
        return {"model": {k: v.detach().cpu() for k, v in unwrap(self.model).state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

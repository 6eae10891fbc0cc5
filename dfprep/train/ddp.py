"""Distributed data parallel: process-group setup from torchrun's environment (entry point: dfprep/train/__main__.py).

    torchrun --standalone --nproc_per_node=2 -m dfprep.train SHARDS --out RUN [dfprep train options]

nccl on GPU (one device per local rank), gloo on CPU. Every rank reads a disjoint set of train shards
(webdataset's split_by_node); evaluation splits the val/test shards the same way and gathers predictions.
Without torchrun's variables (WORLD_SIZE unset or 1) everything runs in one process, no process group.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from dfprep.device import pick_device


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(requested_device: str | None = None) -> Dist:
    """Join torchrun's process group when WORLD_SIZE > 1; pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world <= 1:
        return Dist(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    here = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
        here = True
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank, device, here)


def teardown(d: Dist) -> None:
    if d.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.distributed:
        dist.barrier()


def gather_objects(d: Dist, obj) -> list:
    """Every rank's `obj`, in rank order, on every rank (a list of one in a single process)."""
    if not d.distributed:
        return [obj]
    out = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(d: Dist, obj):
    """Rank 0's `obj` on every rank."""
    if not d.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]

"""Which torch device a stage runs on: one rule for the detector, the trainer and predict."""
from __future__ import annotations


def pick_device(requested: str | None = None, local_rank: int = 0):
    """The requested device (a bare "cuda" means this process's GPU, `cuda:{local_rank}`), else this process's
    GPU when CUDA is available, else the CPU. Returns a torch.device."""
    import torch

    if requested:
        dev = torch.device(requested)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
        return dev
    return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")

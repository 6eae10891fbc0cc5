"""Frame classifiers (torchvision backbones, randomly initialised, or a small CNN) and the model factory.

Every model is an `encoder` (image -> feature vector) plus a one-logit `head`, so the temporal model for clip
shards reuses the same encoders. Nothing is ever downloaded: torchvision models are built with weights=None,
and pretrained weights come only from a local file (`load_weights`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn
from dfprep.dataset import UNITS

RNNS = ("gru", "lstm")


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU-maxpool blocks and global average pooling: a fast CPU baseline (~0.4M parameters)."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 192)):
        super().__init__()
        blocks, c_in = [], 3
        for c in widths:
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                                        nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1, bias=False),
                                        nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.MaxPool2d(2)))
            c_in = c
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def _resnet(name: str) -> tuple[nn.Module, int]:
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def _efficientnet_b0() -> tuple[nn.Module, int]:
    import torchvision

    net = torchvision.models.efficientnet_b0(weights=None)
    dim = net.classifier[-1].in_features
    net.classifier = nn.Identity()
    return net, dim


def _smallcnn() -> tuple[nn.Module, int]:
    net = SmallCNN()
    return net, net.dim


# name -> () -> (encoder [B,3,H,W] -> [B,D], D)
ENCODERS: dict[str, Callable[[], tuple[nn.Module, int]]] = {
    "resnet18": lambda: _resnet("resnet18"),
    "resnet50": lambda: _resnet("resnet50"),
    "efficientnet_b0": _efficientnet_b0,
    "smallcnn": _smallcnn,
}


class FrameClassifier(nn.Module):
    """[B,3,H,W] float (normalised by `dfprep.train.data.to_input`) -> one logit per image, [B]."""

    def __init__(self, encoder: nn.Module, dim: int, dropout: float = 0.2):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(x))).squeeze(-1)


def _frame_model(name: str) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        encoder, dim = ENCODERS[name]()
        return FrameClassifier(encoder, dim)
    return make


# name -> () -> frame model ([B,3,H,W] -> logits [B]); "resnet18" is the default of `dfprep train`.
MODELS: dict[str, Callable[[], nn.Module]] = {name: _frame_model(name) for name in ENCODERS}


def build_model(name: str, unit: str = "frame", clip_len: int = 8, rnn: str = "gru") -> nn.Module:
    """A frame model ([B,3,H,W] -> [B]) or, for unit 'clip', the temporal model ([B,T,3,H,W] -> [B]).

    The temporal model accepts any T; clip_len is the length the shards were cut with, kept for reference.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected frame or clip")
    if unit == "frame":
        return MODELS[name]()
    from dfprep.train.temporal import TemporalClassifier

    if rnn not in RNNS:
        raise ValueError(f"unknown rnn {rnn!r}; expected gru or lstm")
    encoder, dim = ENCODERS[name]()
    return TemporalClassifier(encoder, dim, rnn=rnn, clip_len=clip_len)


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The last convolutional block of the model's encoder (the layer Grad-CAM attributes to)."""
    model = getattr(model, "module", model)          # unwrap DistributedDataParallel
    enc = model.encoder
    if hasattr(enc, "layer4"):                        # resnet
        return enc.layer4[-1]
    if hasattr(enc, "features"):                      # efficientnet, smallcnn
        return enc.features[-1]
    raise ValueError(f"no known last conv block in {type(enc).__name__}")


def load_weights(model: nn.Module, path: Path) -> dict:
    """Load local weights into the model: a torchvision state_dict (e.g. resnet18-f37072fd.pth) or a dfprep model.pt.

    Torchvision keys (no `encoder.`/`head.` prefix) go to the encoder; tensors whose shape does not fit (the
    1000-class ImageNet head) are skipped. Loaded with weights_only=True, so the file cannot run code.
    Returns {'loaded': n, 'skipped': [...], 'missing': [...]}; raises if nothing matches.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]                        # a dfprep training checkpoint
    target = model.state_dict()
    prefixed = {k if k.split(".", 1)[0] in ("encoder", "head") else f"encoder.{k}": v for k, v in state.items()}
    fit = {k: v for k, v in prefixed.items() if k in target and tuple(v.shape) == tuple(target[k].shape)}
    skipped = sorted(set(prefixed) - set(fit))
    if not fit:
        raise ValueError(f"{path}: no tensor fits the model (first keys: {list(state)[:5]})")
    missing = sorted(k for k in target if k not in fit)
    model.load_state_dict(fit, strict=False)
    return {"loaded": len(fit), "skipped": skipped, "missing": missing}


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

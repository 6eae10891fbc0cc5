"""Seeded image augmentation on torchvision.transforms.v2 functional ops, with every sampled parameter recorded.

Shared by `dfprep shards` (oversampled copies, written into the shards), `dfprep analyze` (a preview gallery)
and the trainer (online augmentation). Each op is a *builder*: `builder(generator) -> (apply, params)` draws
its parameters from the generator and returns a function of a uint8 [3,H,W] tensor plus a JSON-able dict.
The same seed (or generator state) always gives the same image and the same parameters.

A gallery of one op at a time: `augment_image(img, seed, names=("rotate",), p=1.0)`.

Seeds are functions of the sample key, never of the order of work: `shard_augment_seed` for the copies written
into shards, `epoch_augment_seed` for the trainer's online augmentation (a new draw every epoch).
"""
from __future__ import annotations

import hashlib
import warnings
from typing import Callable, Iterable

import PIL.Image
import torch
import torchvision.transforms.v2.functional as F
from torchvision.transforms import InterpolationMode

DEFAULT_AUGMENTS = ("hflip", "rotate", "brightness", "saturation", "noise", "jpeg", "downscale")

# Parameter ranges: mild enough that a face stays a face, as in the DFDC winners' pipelines.
ROTATE_DEG = 15.0
BRIGHTNESS = (0.7, 1.3)
SATURATION = (0.7, 1.3)
NOISE_SIGMA = (0.01, 0.05)       # fraction of the 0..255 range
JPEG_QUALITY = (30, 95)
DOWNSCALE = (0.33, 0.75)         # shorter side factor before scaling back up

Apply = Callable[[torch.Tensor], torch.Tensor]


def shard_augment_seed(seed: int, key: str) -> int:
    """An oversampled copy's augmentation seed in `dfprep shards`: a function of the run seed and the key."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{key}".encode()).digest()[:4], "little") & 0x7FFFFFFF


def epoch_augment_seed(seed: int, epoch: int, key: str) -> int:
    """A sample's online augmentation seed in training: the same for a (seed, epoch, key) whichever worker
    draws it, a new one every epoch."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{epoch}/{key}".encode()).digest()[:8], "little") & (2**63 - 1)
Builder = Callable[[torch.Generator], "tuple[Apply, dict]"]


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Inclusive of both ends."""
    return int(torch.randint(lo, hi + 1, (), generator=g))


def hflip(g: torch.Generator) -> tuple[Apply, dict]:
    return F.hflip, {}


def rotate(g: torch.Generator) -> tuple[Apply, dict]:
    angle = round(_uniform(g, -ROTATE_DEG, ROTATE_DEG), 3)
    return (lambda x: F.rotate(x, angle, interpolation=InterpolationMode.BILINEAR, fill=[0.0])), {"angle": angle}


def brightness(g: torch.Generator) -> tuple[Apply, dict]:
    factor = round(_uniform(g, *BRIGHTNESS), 4)
    return (lambda x: F.adjust_brightness(x, factor)), {"factor": factor}


def saturation(g: torch.Generator) -> tuple[Apply, dict]:
    factor = round(_uniform(g, *SATURATION), 4)
    return (lambda x: F.adjust_saturation(x, factor)), {"factor": factor}


def noise(g: torch.Generator) -> tuple[Apply, dict]:
    sigma = round(_uniform(g, *NOISE_SIGMA), 4)
    noise_seed = _randint(g, 0, 2**31 - 1)

    def apply(x: torch.Tensor) -> torch.Tensor:
        # F.gaussian_noise draws from torch's global generator: fork it so the noise follows our seed only.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(noise_seed)
            return F.gaussian_noise(x, mean=0.0, sigma=sigma, clip=True)

    return apply, {"sigma": sigma, "noise_seed": noise_seed}


def jpeg(g: torch.Generator) -> tuple[Apply, dict]:
    quality = _randint(g, *JPEG_QUALITY)

    def apply(x: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():     # torchvision 0.29 flags its own io codec (used by F.jpeg) as deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            return F.jpeg(x, quality)

    return apply, {"quality": quality}


def downscale(g: torch.Generator) -> tuple[Apply, dict]:
    factor = round(_uniform(g, *DOWNSCALE), 4)

    def apply(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = [max(1, round(h * factor)), max(1, round(w * factor))]
        x = F.resize(x, small, interpolation=InterpolationMode.BILINEAR, antialias=True)
        return F.resize(x, [h, w], interpolation=InterpolationMode.BILINEAR, antialias=True)

    return apply, {"factor": factor}


AUGMENTATIONS: dict[str, Builder] = {
    "hflip": hflip, "rotate": rotate, "brightness": brightness, "saturation": saturation,
    "noise": noise, "jpeg": jpeg, "downscale": downscale,
}


def augment_tensor(x: torch.Tensor, generator: torch.Generator, names: Iterable[str] = DEFAULT_AUGMENTS,
                   p: float = 0.5) -> tuple[torch.Tensor, dict]:
    """Apply each named op, in the order given, with probability p; params lists the ops applied.

    x is a uint8 [3,H,W] tensor (CPU). Every random draw comes from `generator`.
    """
    if x.dtype != torch.uint8 or x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"augment_tensor expects a uint8 [3,H,W] tensor, got {x.dtype} {tuple(x.shape)}")
    ops = []
    for name in names:
        if name not in AUGMENTATIONS:
            raise KeyError(f"unknown augmentation {name!r}; known: {sorted(AUGMENTATIONS)}")
        if float(torch.rand((), generator=generator)) >= p:
            continue
        apply, params = AUGMENTATIONS[name](generator)
        x = apply(x)
        ops.append({"op": name, **params})
    return x, {"ops": ops}


def augment_image(img: PIL.Image.Image, seed: int, names: Iterable[str] = DEFAULT_AUGMENTS,
                  p: float = 0.5) -> tuple[PIL.Image.Image, dict]:
    """Deterministic for a seed: the same image, seed, names and p give the same pixels and params."""
    g = torch.Generator().manual_seed(int(seed))
    x = F.pil_to_tensor(img.convert("RGB"))
    y, params = augment_tensor(x, g, names, p)
    return F.to_pil_image(y), {"seed": int(seed), "p": p, **params}

"""Streaming the shards into training: webdataset pipelines with an allow-list decoder, and `to_input`.

Train: the split's shard list shuffled with (seed, epoch) -> split by node (rank) -> split by DataLoader worker
-> tar samples -> a sample shuffle buffer seeded by (seed, epoch, rank, worker) -> allow-list decode, resize,
online augmentation seeded by (seed, epoch, key) -> uint8 batches in the workers (normalised on the device). The epoch length (batches) is set
on the loader, not the dataset, so N workers do not make N epochs; a rank whose shards run out first starts
them again, so every rank takes the same number of steps (DDP needs that). The same (seed, epoch, workers)
always gives the same batches, which is what lets `--resume` replay an epoch up to where it stopped.

Decoding never goes through webdataset's default decoders (they unpickle `.pyd`/`.pickle`): a member whose
extension is not `jpg`, `NNN.jpg`, `cls` or `json` stops the run with an error naming shard and member.

Each shard is read through `shard_files` rather than webdataset's own tar reader: the file is opened here (a
remote shard, s3:// gs:// hdfs:// http(s)://, is streamed in one forward pass by the process that reads it, a
DataLoader worker included), its size checked against index.json (at once for a local file), every byte hashed
as it is read (sha256, compared with index.json's at the end of the shard), and the tar read strictly (`dfprep.shards.tarstream.iter_members`): a member that is
not a regular file (a symlink, a hard link), a name that is a path (`../x`), a header whose size or checksum
lies, data after the end of the archive each stop the run with a `BadShardError` naming shard and member,
where webdataset would skip the member, stop early without a word, or fail with a traceback. An image whose
header promises more than `max_pixels` pixels is refused before it is decoded (`dfprep.imagesize`).
"""
from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Iterable, Iterator

import torch
import torchvision.transforms.v2.functional as TF
import webdataset as wds
from torchvision.io import ImageReadMode, decode_jpeg

from dfprep.formats.shards import CLS, JSON, allowed_member, image_members, member_names
from dfprep.imagesize import MAX_IMAGE_PIXELS, ImageTooLarge, check_pixels
from dfprep.storage import AnyPath, as_path, is_remote
from dfprep.train.errors import BadShardError, TrainUsageError, UnsafeShardError  # noqa: F401 (re-exported)
from dfprep.train.workers import WebLoader

if TYPE_CHECKING:
    from dfprep.formats.shards import ShardsIndex

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
META_FIELDS = {"__key__", "__url__", "__local_path__"}




@dataclass
class SplitShards:
    """One split of SHARDS/index.json: shard paths and the sample counts the index promises."""
    name: str
    urls: list[str]
    samples: int
    real: int
    fake: int
    checks: dict = field(default_factory=dict)    # url -> (bytes, sha256) from index.json, checked as read


@dataclass
class LoaderConfig:
    unit: str = "frame"
    clip_len: int = 8
    size: int = 224
    batch_size: int = 32
    workers: int = 0
    seed: int = 0
    augment: bool = False
    augment_ops: tuple[str, ...] | None = None    # None: the shard stage's defaults
    augment_p: float = 0.5
    shuffle_buffer: int = 1000
    gpu_decode: bool = False                       # hand raw JPEG bytes to the device instead of pixels
    pin_memory: bool = False
    prefetch: int = 4
    max_pixels: int = MAX_IMAGE_PIXELS              # width x height budget of one image, from its header


def read_index(shards: AnyPath) -> ShardsIndex:
    """SHARDS/index.json through the shards stage's typed reader; its refusals are ShardsUsageError (a usage
    error, exit 2). SHARDS may be remote (s3://, gs://, hdfs://, http(s)://): a store that fails is a
    StorageError."""
    from dfprep.formats.shards import read_shards_index

    return read_shards_index(as_path(shards))


def split_shards(shards: AnyPath, index: ShardsIndex, split: str) -> SplitShards | None:
    """The split's shards (absolute paths or URIs, missing files an error), or None when the split has no
    samples."""
    info = index.splits.get(split)
    if info is None or not info.samples:
        return None
    shards = as_path(shards)
    urls, checks = [], {}
    for entry in info.shards:
        if not entry.n_samples:
            continue
        path = shards / entry.name if is_remote(shards) else (shards / entry.name).resolve()
        if not path.is_file():
            raise TrainUsageError(f"{path}: listed in index.json but missing")
        urls.append(str(path))
        checks[str(path)] = (entry.bytes, entry.sha256)
    return SplitShards(split, urls, info.samples, info.real, info.fake, checks)


# --- reading shards --------------------------------------------------------------------------------------------

READ_BUFFER = 1 << 20


def _open_shard(url: str):
    """(a binary reader of the shard, its size or None when only the read will tell): a local file, or a remote
    object streamed forward in one pass (`RemotePath.open_stream`; never downloaded whole first)."""
    p = as_path(url)
    if is_remote(p):
        return p.open_stream(), None
    fh = open(url, "rb", buffering=READ_BUFFER)
    return fh, os.fstat(fh.fileno()).st_size


def _size_differs(url: str, size: int, expect: tuple[int, str]) -> BadShardError:
    return BadShardError(f"shard {url}: {size} bytes, index.json says {expect[0]} (truncated or rewritten since "
                         "`dfprep shards` wrote it)")


def shard_files(url: str, expect: tuple[int, str] | None) -> Iterator[dict]:
    """One shard's members as webdataset's file records ({fname, data, __url__}), then its end marker ({}).

    `expect` is index.json's (bytes, sha256) of the shard: the size is checked when a local file is opened (a
    remote one's when its stream ends), the sha256 of the bytes read when the shard ends, before its last sample
    is let through. None: not checked. A remote store that fails mid-stream raises StorageError, not
    BadShardError: the data was not shown to be bad.
    """
    from dfprep.shards.tarstream import HashingReader, ShardFormatError, iter_members

    fh, size = _open_shard(url)
    with fh:
        if expect is not None and size is not None and size != expect[0]:
            raise _size_differs(url, size, expect)
        reader = HashingReader(fh) if expect is not None else fh
        try:
            for fname, data in iter_members(reader):
                yield {"fname": fname, "data": data, "__url__": url}
        except ShardFormatError as exc:
            raise BadShardError(f"shard {url}: {exc}") from None
    if expect is not None and size is None and reader.size != expect[0]:
        raise _size_differs(url, reader.size, expect)
    if expect is not None and reader.sha.hexdigest() != expect[1]:
        raise BadShardError(f"shard {url}: sha256 {reader.sha.hexdigest()[:16]}... of its bytes differs from "
                            f"index.json's {expect[1][:16]}... (changed since `dfprep shards` wrote it)")
    yield {}


def checked_tar_samples(src: Iterable[dict], checks: dict) -> Iterator[dict]:
    """webdataset's `tarfile_to_samples` stage with every shard read by `shard_files` (checked while streamed)."""
    def files():
        for source in src:
            yield from shard_files(source["url"], checks.get(source["url"]))

    return wds.tariterators.group_by_keys(files())


# --- pixels ----------------------------------------------------------------------------------------------------

def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """[...,3,H,W] -> [...,3,size,size] (bilinear, antialiased; a no-op at the right size)."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    lead = x.shape[:-3]
    y = TF.resize(x.reshape(-1, *x.shape[-3:]), [size, size], antialias=True)
    return y.reshape(*lead, *y.shape[-3:])


def to_input(x_uint8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [...,3,H,W] -> float32 [...,3,size,size], resized and ImageNet-normalised, on x's device.

    Training and prediction both feed models through this, so they see identical inputs.
    """
    if x_uint8.dtype != torch.uint8:
        raise ValueError(f"to_input expects uint8 pixels, got {x_uint8.dtype}")
    x = resize_uint8(x_uint8, size).float().div_(255.0)
    mean, std = _mean_std(x.device)
    return (x - mean) / std


@lru_cache(maxsize=None)
def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet statistics as [3,1,1] tensors, made once per device (no host-to-device copy per batch)."""
    return (torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1),
            torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1))


def decode_jpeg_bytes(data: bytes) -> torch.Tensor:
    """JPEG bytes -> uint8 [3,H,W] RGB (libjpeg via torchvision)."""
    return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)


# --- samples ---------------------------------------------------------------------------------------------------

def image_fields(sample: dict, unit: str, clip_len: int) -> list[str]:
    """Check the sample's members against the allow-list; return its image fields in order."""
    where = f"shard {sample.get('__url__')}"
    fields = [k for k in sample if k not in META_FIELDS]
    for f in fields:
        if not allowed_member(f):
            raise UnsafeShardError(f"{where}: member {sample.get('__key__')}.{f} is not allowed (only jpg, NNN.jpg, "
                                   f"cls, json); refusing to decode it")
    want = image_members(unit, clip_len)
    missing = [f for f in member_names(unit, clip_len) if f not in sample]
    if missing:
        raise BadShardError(f"{where}: sample {sample.get('__key__')} lacks {missing} (unit {unit}, clip_len {clip_len})")
    return want


def decode_sample(sample: dict, cfg: LoaderConfig, epoch: int) -> dict:
    """Raw tar sample -> {image [3,S,S] or [T,3,S,S] uint8 | jpeg [bytes tensors], label, video, key, url}.

    Bad data (a cls that is not 0/1, json without a video, an image over the pixel budget or that does not
    decode) raises BadShardError naming shard and member."""
    fields = image_fields(sample, cfg.unit, cfg.clip_len)
    where = f"shard {sample.get('__url__')}: member {sample.get('__key__')}"
    try:
        label = int(sample[CLS].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise BadShardError(f"{where}.cls is {sample[CLS][:20]!r}, expected 0 or 1") from None
    if label not in (0, 1):
        raise BadShardError(f"{where}.cls is {label}, expected 0 or 1")
    try:
        meta = json.loads(sample[JSON])
        video = video_id(meta)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise BadShardError(f"{where}.json: not a sample's json ({type(exc).__name__}: {exc})") from None
    out = {"label": label, "video": video, "key": sample["__key__"], "url": sample["__url__"]}
    for f in fields:                        # from the header alone, before a pixel is decoded
        try:
            check_pixels(sample[f], cfg.max_pixels)
        except ImageTooLarge as exc:
            raise BadShardError(f"{where}.{f}: {exc} (raise the budget with --max-image-pixels)") from None
    if cfg.gpu_decode:
        out["jpeg"] = [torch.frombuffer(bytearray(sample[f]), dtype=torch.uint8) for f in fields]
        return out
    # resize first: augmenting at the model's input size costs less when it is smaller than the crops
    frames = []
    for f in fields:
        try:
            x = decode_jpeg_bytes(sample[f])
        except RuntimeError as exc:
            raise BadShardError(f"{where}.{f} does not decode as a JPEG ({' '.join(str(exc).split())[:200]})") from None
        frames.append(resize_uint8(x, cfg.size))
    if cfg.augment:
        from dfprep.augment import DEFAULT_AUGMENTS, augment_tensor, epoch_augment_seed

        g = torch.Generator().manual_seed(epoch_augment_seed(cfg.seed, epoch, sample["__key__"]))
        start = g.get_state()
        augmented = []
        for x in frames:                   # one draw of parameters for all frames of a clip
            g.set_state(start)
            augmented.append(augment_tensor(x, g, cfg.augment_ops or DEFAULT_AUGMENTS, cfg.augment_p)[0])
        frames = augmented
    out["image"] = frames[0] if cfg.unit == "frame" else torch.stack(frames)
    return out


def video_id(meta: dict) -> str:
    """What a sample's video is called in training's per-video pooling and predictions files: DFDC's name as is
    (unique across its parts, and what older runs wrote), any other dataset's `<dataset>/<path inside its
    ROOT>` (paths are unique only within a dataset: two datasets may both hold `real/0001.mp4`)."""
    from dfprep.dataset import DFDC

    dataset = meta.get("dataset")
    video = str(meta["video"])
    return video if dataset in (None, DFDC) else f"{dataset}/{video}"


def collate(samples: list[dict]) -> dict:
    batch = {"label": torch.tensor([s["label"] for s in samples], dtype=torch.float32),
             "video": [s["video"] for s in samples], "key": [s["key"] for s in samples],
             "url": [s["url"] for s in samples]}
    if "jpeg" in samples[0]:
        batch["jpeg"] = [s["jpeg"] for s in samples]
    else:
        batch["image"] = torch.stack([s["image"] for s in samples])
    return batch


def _seeded_shuffle(src, bufsize: int, seed: int, epoch: int):
    """webdataset's shuffle buffer with a generator fixed by (seed, epoch, rank, worker): replayable."""
    rank, _, worker, _ = wds.utils.pytorch_worker_info()
    rng = random.Random(f"{seed}/{epoch}/{rank}/{worker}")
    yield from wds.shuffle(bufsize, initial=min(bufsize, 100), rng=rng)(src)


def _webloader(dataset, cfg: LoaderConfig, workers: int, epoch: int) -> wds.WebLoader:
    # WebLoader (dfprep.train.workers): Ctrl-C while its workers start stops them, without torch's
    # "Exception ignored". Its own generator: a DataLoader draws its workers' base seed from the global RNG otherwise, which would
    # shift the dropout masks of a resumed run.
    kw = {"prefetch_factor": cfg.prefetch} if workers > 0 else {}
    return WebLoader(dataset, batch_size=None, shuffle=False, num_workers=workers, pin_memory=cfg.pin_memory,
                         persistent_workers=False, generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch),
                         **kw)


def train_loader(split: SplitShards, cfg: LoaderConfig, epoch: int, n_batches: int,
                 world_size: int = 1) -> wds.WebLoader:
    """One epoch of training batches: exactly n_batches on every rank, reproducible for (seed, epoch, workers)."""
    workers = usable_workers(len(split.urls), world_size, cfg.workers)
    dataset = wds.DataPipeline(
        wds.SimpleShardList(split.urls, seed=cfg.seed * 100003 + epoch),
        wds.split_by_node,
        wds.split_by_worker,
        partial(checked_tar_samples, checks=split.checks),
        partial(_seeded_shuffle, bufsize=cfg.shuffle_buffer, seed=cfg.seed, epoch=epoch),
        wds.map(partial(decode_sample, cfg=cfg, epoch=epoch)),
        wds.batched(cfg.batch_size, collation_fn=collate, partial=True),
    )
    return _webloader(dataset, cfg, workers, epoch).with_epoch(n_batches)


def eval_loader(split: SplitShards, cfg: LoaderConfig, world_size: int = 1) -> wds.WebLoader:
    """Every sample of the split once, unshuffled, unaugmented; ranks read disjoint shards (some may read none)."""
    workers = max(0, min(cfg.workers, math.ceil(len(split.urls) / max(1, world_size))))
    eval_cfg = replace(cfg, augment=False)
    dataset = wds.DataPipeline(
        wds.SimpleShardList(split.urls),
        wds.split_by_node,
        wds.split_by_worker,
        partial(checked_tar_samples, checks=split.checks),
        wds.map(partial(decode_sample, cfg=eval_cfg, epoch=0)),
        wds.batched(cfg.batch_size, collation_fn=collate, partial=True),
    )
    return _webloader(dataset, eval_cfg, workers, 0)


def usable_workers(n_shards: int, world_size: int, workers: int) -> int:
    """DataLoader workers a rank can keep busy: at most its share of shards (a worker without shards idles).

    Raises when the split has fewer shards than ranks: a rank without shards cannot train.
    """
    if n_shards < world_size:
        raise TrainUsageError(f"the train split has {n_shards} shard(s) for {world_size} ranks; every rank needs "
                              f"its own shards: write more (dfprep shards --samples-per-shard) or use fewer ranks")
    return max(0, min(workers, n_shards // world_size))


def steps_per_epoch(split: SplitShards, batch_size: int, world_size: int = 1) -> int:
    return max(1, math.ceil(split.samples / (batch_size * world_size)))


def batch_to_device(batch: dict, device: torch.device, size: int, unit: str = "frame",
                    channels_last: bool = False) -> torch.Tensor:
    """The batch's model input on the device: decode JPEGs there (`--gpu-decode`) or copy pixels non-blocking."""
    if "jpeg" in batch:
        flat = [t for s in batch["jpeg"] for t in s]
        imgs = decode_jpeg(flat, mode=ImageReadMode.RGB, device=device)
        x = torch.stack([resize_uint8(im, size) for im in imgs])
        if unit == "clip":
            x = x.reshape(len(batch["jpeg"]), -1, *x.shape[1:])
    else:
        x = batch["image"].to(device, non_blocking=True)
    x = to_input(x, size)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x

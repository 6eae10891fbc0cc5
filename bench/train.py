"""Issue 6: what the shard loader costs training. Samples/s of one model trained three ways:

    loader       train steps fed by dfprep's webdataset loader (decode, online augmentation, resize in workers)
    in-memory    the same train steps fed one batch, already on the device, over and over: the model's limit
    loader-only  the loader iterated without a model: what the CPU side can deliver

loader overhead = 1 - loader / in-memory (the goal on a GPU: at most 10%). Each figure is the median of
`--repeats` rounds of `--steps` steps (after `--warmup` steps), the three methods taking turns in each round.
Without `--shards`, photo crops (224 px JPEG, like the face crops; 16 shards of 128 by default) are written to a
temporary SHARDS first; give enough samples that `--steps` x `--batch-size` does not wrap around them often.

    python bench/train.py [--shards DIR] [--model resnet18] [--input-size 224] [--batch-size 32]
                          [--workers 4] [--steps 20] [--repeats 3] [--device cuda] [--gpu-decode] [--json out.json]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, machine_line, md_table, write_json  # noqa: E402


def write_photo_shards(out: Path, n_shards: int = 16, per_shard: int = 128, size: int = 224) -> Path:
    """Train shards of 224 px JPEG crops of scikit-image photos (FAKE ones with a magenta square)."""
    import numpy as np
    import PIL.Image
    import skimage.data as data
    import webdataset as wds

    rng = np.random.default_rng(0)
    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    entries, n = [], 0
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n_shards):
        name = f"train-{i:06d}.tar"
        with wds.TarWriter(str(out / name)) as w:
            for _ in range(per_shard):
                img = photos[rng.integers(3)]
                side = int(rng.integers(120, min(img.shape[:2])))
                y, x = rng.integers(0, img.shape[0] - side + 1), rng.integers(0, img.shape[1] - side + 1)
                crop = np.array(PIL.Image.fromarray(img[y:y + side, x:x + side]).resize((size, size)))
                fake = n % 2
                if fake:
                    crop[50:110, 60:120] = (255, 0, 255)
                buf = io.BytesIO()
                PIL.Image.fromarray(crop).save(buf, format="JPEG", quality=95)
                meta = {"video": f"v{n // 8:05d}.mp4", "label": "FAKE" if fake else "REAL"}
                w.write({"__key__": f"p0_v{n // 8:05d}_f{n % 8:05d}_t0", "jpg": buf.getvalue(),
                         "cls": str(fake).encode(), "json": json.dumps(meta).encode()})
                n += 1
        blob = (out / name).read_bytes()
        entries.append({"name": name, "n_samples": per_shard, "n_real": per_shard // 2,
                        "n_fake": per_shard - per_shard // 2, "bytes": len(blob),
                        "sha256": hashlib.sha256(blob).hexdigest()})
    from dfprep.formats.shards import FORMAT, INDEX

    index = {"format": FORMAT, "unit": "frame", "clip_len": None, "config": {"unit": "frame"},
             "splits": {"train": {"samples": n, "real": n // 2, "fake": n - n // 2, "shards": entries}}}
    (out / INDEX).write_text(json.dumps(index))
    return out


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(shards: Path, a) -> dict:
    import torch

    from dfprep.train.data import LoaderConfig, read_index, split_shards, steps_per_epoch, train_loader
    from dfprep.device import pick_device
    from dfprep.train.ddp import Dist
    from dfprep.train.models import build_model
    from dfprep.train.trainer import Trainer

    device = pick_device(a.device)
    d = Dist(device=device)
    split = split_shards(shards, read_index(shards), "train")
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    trainer = Trainer(build_model(a.model), d, lr=1e-4, weight_decay=0.01, total_steps=10**6, warmup_steps=0,
                      grad_clip=1.0, class_weights=None, input_size=a.input_size, unit="frame")
    lcfg = LoaderConfig(size=a.input_size, batch_size=a.batch_size, workers=a.workers, seed=0,
                        augment=not a.no_augment and not a.gpu_decode, gpu_decode=a.gpu_decode,
                        pin_memory=device.type == "cuda", prefetch=4)
    per_epoch = steps_per_epoch(split, a.batch_size)
    n = a.warmup + a.steps
    epoch = [0]

    def batches():
        # a long epoch (the loader restarts its shards as needed): worker start-up is paid once, in the warmup
        epoch[0] += 1
        return iter(train_loader(split, lcfg, epoch[0], max(n, per_epoch)))

    def loader_fed() -> float:
        it = batches()
        for b in islice(it, a.warmup):
            trainer.train_step(b)
        trainer.flush_losses()
        _sync(device)
        t, k = time.perf_counter(), 0
        for b in islice(it, a.steps):
            trainer.train_step(b)
            k += len(b["label"])
        trainer.flush_losses()
        _sync(device)
        return k / (time.perf_counter() - t)

    fixed = next(batches())
    fixed = {**fixed, **({"image": fixed["image"].to(device)} if "image" in fixed else {}),
             "label": fixed["label"].to(device)}

    def in_memory() -> float:
        for _ in range(a.warmup):
            trainer.train_step(fixed)
        trainer.flush_losses()
        _sync(device)
        t = time.perf_counter()
        for _ in range(a.steps):
            trainer.train_step(fixed)
        trainer.flush_losses()
        _sync(device)
        return a.steps * len(fixed["label"]) / (time.perf_counter() - t)

    def loader_only() -> float:
        it = batches()
        for _ in islice(it, a.warmup):
            pass
        t, k = time.perf_counter(), 0
        for b in islice(it, a.steps):
            k += len(b["label"])
        return k / (time.perf_counter() - t)

    methods = {"loader": loader_fed, "in-memory": in_memory, "loader-only": loader_only}
    rounds: dict[str, list[float]] = {m: [] for m in methods}
    for r in range(a.repeats):
        for m, fn in methods.items():
            rounds[m].append(fn())
            print(f"  round {r + 1} {m}: {rounds[m][-1]:.1f} samples/s", file=sys.stderr)
    med = {m: statistics.median(v) for m, v in rounds.items()}
    return {"device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "samples_per_s": med, "rounds": rounds, "overhead": 1 - med["loader"] / med["in-memory"],
            "train_samples": split.samples, "shards": len(split.urls)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=Path, default=None)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None)
    ap.add_argument("--gpu-decode", action="store_true")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--photo-shards", type=int, default=16, help="Shards written when --shards is not given.")
    ap.add_argument("--photo-per-shard", type=int, default=128)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    info = machine()
    print(f"# train bench: {machine_line(info)}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        shards = a.shards or write_photo_shards(Path(tmp) / "shards", a.photo_shards, a.photo_per_shard)
        res = run(shards, a)
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    sps = res["samples_per_s"]
    print(f"{a.model} at {a.input_size} px, batch {a.batch_size}, {a.workers} loader workers, "
          f"augment {'off' if a.no_augment or a.gpu_decode else 'on'}, gpu-decode {a.gpu_decode}, "
          f"on {res['gpu'] or res['device']}; samples/s, median of {a.repeats} rounds of {a.steps} steps.\n")
    print(md_table(["loader", "in-memory (model limit)", "loader-only", "loader overhead"],
                   [[sps["loader"], sps["in-memory"], sps["loader-only"], f"{100 * res['overhead']:.1f}%"]]))
    write_json(a.json, {"bench": "train", "machine": info, "args": {k: str(v) for k, v in vars(a).items()}, **res})
    return 0


if __name__ == "__main__":
    sys.exit(main())

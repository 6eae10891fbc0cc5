"""Issue 5: `dfprep shards` write throughput against plain `tar`, and read throughput into decoded tensors.

    python bench/shards.py make --out /tmp/bench-shards-work [--videos 1000 --frames 8]
    python bench/shards.py time --work /tmp/bench-shards-work [--repeats 3] [--json out.json]

`make` writes a face store in the ingest's layout and schemas (part-P folders, batches of 16 videos, row groups
of 256, zstd) with realistic crops: every `jpeg` is a distinct 224x224 JPEG (quality 95, ~20-30 KB) cut at a
random place and scale from scikit-image's sample photographs; ~1 REAL per 5 FAKEs, one face per frame.

`time` measures, each repeated (median reported):
  * tar: GNU `tar -cf` of the same JPEG bytes (the crops written as files beforehand, page cache warm), one core;
  * dfprep, 1 core: `make_shards(balance=none, augment=off, use_ray=False)`: the same bytes, read from Parquet
    row groups and written as WebDataset samples (jpg + cls + json), one process; write phase and whole run;
  * dfprep, Ray: the same on embedded Ray with all cores (one task per shard; Ray start-up excluded);
  * dfprep default settings (undersample 1:1, augmented oversampled copies) and oversample (every REAL repeat
    augmented and re-encoded), samples/s;
  * read: every train shard through `webdataset.WebDataset(...).decode("torchrgb")` into float tensors, one
    process (= one core), samples/s and MB/s.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, machine_line, md_table, timed, write_json  # noqa: E402

BATCH = 16
ROW_GROUP = 256


def _photos() -> list[np.ndarray]:
    from skimage import data

    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.retina()[..., :3]]


def make_store(out: Path, videos: int, frames: int, seed: int = 0) -> dict:
    from PIL import Image

    from dfprep.atomic import write_parquet
    from dfprep.formats.work.batches import faces_file, videos_file
    from dfprep.formats.work.faces import faces_table
    from dfprep.formats.work.names import BatchId
    from dfprep.formats.work.videos import video_row, videos_table
    from dfprep.dataset import VideoEntry

    rng = np.random.default_rng(seed)
    photos = _photos()
    parts = max(1, videos // 250)
    per_part = videos // parts
    n_crops = total = 0
    for part in range(parts):
        entries = []
        real = None
        for i in range(per_part):
            name = f"p{part}v{i:05d}.mp4"
            if real is None or rng.random() < 1 / 6:
                real = name
                entries.append((name, "REAL", None))
            else:
                entries.append((name, "FAKE", real))
        entries.sort()
        for b in range(0, len(entries), BATCH):
            vrows, frows = [], {k: [] for k in ("video", "part", "label", "original", "frame_idx", "track_id",
                                                "prob", "x1", "y1", "x2", "y2", "landmarks", "jpeg", "phash",
                                                "frame_phash")}
            for name, label, original in entries[b:b + BATCH]:
                for fi in range(0, frames * 10, 10):
                    img = photos[rng.integers(len(photos))]
                    side = int(rng.integers(150, min(img.shape[:2])))
                    y, x = rng.integers(0, img.shape[0] - side + 1), rng.integers(0, img.shape[1] - side + 1)
                    buf = io.BytesIO()
                    Image.fromarray(img[y:y + side, x:x + side]).resize((224, 224)).save(buf, "JPEG", quality=95)
                    for k, v in (("video", name), ("part", part), ("label", label), ("original", original),
                                 ("frame_idx", fi), ("track_id", 0), ("prob", 0.99), ("x1", 100.0), ("y1", 80.0),
                                 ("x2", 300.0), ("y2", 330.0), ("landmarks", None), ("jpeg", buf.getvalue()),
                                 ("phash", 1), ("frame_phash", 2)):
                        frows[k].append(v)
                    n_crops += 1
                    total += len(buf.getvalue())
                vrows.append(video_row(VideoEntry(name, part, label=label, original=original, split="train"),
                                       status="ok", n_faces=frames))
            bid = BatchId(part, b // BATCH)
            write_parquet(faces_file(out, bid), faces_table(frows), ROW_GROUP)
            write_parquet(videos_file(out, bid), videos_table(vrows))
    return {"videos": parts * per_part, "crops": n_crops, "jpeg_mb": round(total / 1e6, 1)}


def _jpeg_files(work: Path, dst: Path) -> None:
    """The face store's crops as plain files: what `tar` archives."""
    import pyarrow.dataset as ds

    from dfprep.formats.work.names import faces_dir

    dst.mkdir()
    for batch in ds.dataset(faces_dir(work)).to_batches(columns=["part", "video", "frame_idx", "jpeg"]):
        d = batch.to_pydict()
        for part, video, fi, jpg in zip(d["part"], d["video"], d["frame_idx"], d["jpeg"]):
            (dst / f"p{part}_{video[:-4]}_f{fi:05d}.jpg").write_bytes(jpg)


def _summary(times: list[float], size: int, samples: int | None = None, cpu: list[float] | None = None) -> dict:
    med, best = statistics.median(times), min(times)
    out = {"bytes": size, "times_s": [round(t, 4) for t in times], "median_s": med, "best_s": best,
           "mb_per_s": size / 1e6 / med, "best_mb_per_s": size / 1e6 / best}
    if cpu:
        out.update(cpu_s=statistics.median(cpu), mb_per_cpu_s=size / 1e6 / statistics.median(cpu))
    if samples is not None:
        out.update(samples=samples, samples_per_s=samples / med)
    return out


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _dfprep_once(work: Path, out: Path, **kw) -> tuple[float, dict]:
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards

    shutil.rmtree(out, ignore_errors=True)
    made = make_shards(work, out, ShardsConfig(progress=False, **kw))
    return made.timings["write_s"], made.index


def _tar_vs_dfprep(work: Path, tmp: Path, repeats: int, same: dict) -> tuple[dict, dict, dict]:
    """tar and one-core dfprep alternately, so that both see the same load on a shared machine.

    Besides wall time, CPU time (user + sys) of each, which the other tenants of a shared machine do not
    inflate: MB per CPU-second is the per-core throughput. dfprep's CPU time covers its whole run (plan, index).
    """
    _jpeg_files(work, tmp / "jpegs")
    tar_out = tmp / "plain.tar"
    tar_t, sync_t, tar_cpu, df_t, df_cpu = [], [], [], [], []
    index = {}
    for r in range(repeats + 1):                         # round 0 warms caches and imports
        c0, t = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(["tar", "-cf", str(tar_out), "-C", str(tmp / "jpegs"), "."], check=True)
        dt, c1 = time.perf_counter() - t, _cpu(resource.RUSAGE_CHILDREN)
        fd = os.open(tar_out, os.O_RDONLY)
        os.fsync(fd)                                     # dfprep fsyncs each shard before its rename
        os.close(fd)
        ds_ = time.perf_counter() - t
        s0 = _cpu(resource.RUSAGE_SELF)
        w, index = _dfprep_once(work, tmp / "one", use_ray=False, **same)
        s1 = _cpu(resource.RUSAGE_SELF)
        if r:
            tar_t.append(dt)
            sync_t.append(ds_)
            tar_cpu.append(c1 - c0)
            df_t.append(w)
            df_cpu.append(s1 - s0)
    shutil.rmtree(tmp / "jpegs")
    one = _summary(df_t, index["bytes"], index["samples"], df_cpu)
    one.update(augmented=0, out=str(tmp / "one"))
    size = tar_out.stat().st_size
    return _summary(tar_t, size, cpu=tar_cpu), _summary(sync_t, size), one


def _run_dfprep(work: Path, tmp: Path, repeats: int, label: str, **kw) -> dict:
    times, index = [], {}
    for r in range(repeats + 1):
        w, index = _dfprep_once(work, tmp / label, **kw)
        if r:
            times.append(w)
    out = _summary(times, index["bytes"], index["samples"])
    out["augmented"] = sum(s["augmented"] for s in index["splits"].values())
    return out


def _read(shards: Path, repeats: int) -> dict:
    import torch
    import webdataset as wds

    torch.set_num_threads(1)
    urls = sorted(str(p) for p in shards.glob("train-*.tar"))
    size = sum(Path(u).stat().st_size for u in urls)
    count = {}

    def run():
        n = 0
        for x, y in wds.WebDataset(urls, shardshuffle=False).decode("torchrgb").to_tuple("jpg", "cls"):
            n += 1
        count["n"] = n
    c0 = _cpu(resource.RUSAGE_SELF)
    t = timed(run, repeats)
    cpu = (_cpu(resource.RUSAGE_SELF) - c0) / (repeats + 1)
    return {"samples": count["n"], "bytes": size, **t, "samples_per_s": count["n"] / t["median_s"],
            "mb_per_s": size / 1e6 / t["median_s"], "cpu_s": cpu, "samples_per_cpu_s": count["n"] / cpu}


def time_all(work: Path, repeats: int, cpus: int) -> dict:
    import ray

    res = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-shards-", dir="/tmp") as d:
        tmp = Path(d)
        same = dict(balance="none", augment="off", split="1,0,0", shard_size="64MB")
        res["tar"], res["tar_fsync"], res["dfprep_1core"] = _tar_vs_dfprep(work, tmp, repeats, same)
        res["read_1core"] = _read(Path(res["dfprep_1core"]["out"]), repeats)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        try:
            res["dfprep_ray"] = _run_dfprep(work, tmp, repeats, "ray", **same)
            res["default_ray"] = _run_dfprep(work, tmp, repeats, "default", shard_size="32MB")
            res["oversample_ray"] = _run_dfprep(work, tmp, repeats, "over", balance="oversample",
                                                shard_size="32MB")
        finally:
            ray.shutdown()
        res["cpus"] = cpus
    res["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    return res


def report(r: dict) -> str:
    tar, sync = r["tar"], r["tar_fsync"]
    one = r["dfprep_1core"]
    rows = [("plain `tar -cf` of the crops as JPEG files", 1, tar["bytes"] / 1e6, "", tar["median_s"],
             tar["mb_per_s"], tar["best_mb_per_s"], 1.0, f"{tar['mb_per_cpu_s']:.0f}"),
            ("the same, then fsync (as dfprep does per shard)", 1, sync["bytes"] / 1e6, "", sync["median_s"],
             sync["mb_per_s"], sync["best_mb_per_s"], sync["mb_per_s"] / tar["mb_per_s"], "")]
    for key, what, cores in (("dfprep_1core", "dfprep shards, same crops (balance none, augment off)", 1),
                             ("dfprep_ray", "the same on Ray", r["cpus"]),
                             ("default_ray", "default settings (undersample 1:1; no repeat to augment)", r["cpus"]),
                             ("oversample_ray", "--balance oversample (every repeat augmented)", r["cpus"])):
        x = r[key]
        rows.append((what, cores, x["bytes"] / 1e6, f"{x['samples']} ({x['augmented']} aug.)", x["median_s"],
                     x["mb_per_s"], x["best_mb_per_s"], x["mb_per_s"] / tar["mb_per_s"],
                     f"{x['mb_per_cpu_s']:.0f}" if "mb_per_cpu_s" in x else ""))
    text = md_table(["write", "cores", "MB", "samples", "median s", "MB/s (median)", "MB/s (best)",
                     "x tar (median MB/s)", "MB per CPU-s"], rows)
    text += f"\n\nPer CPU core (MB written per CPU-second): dfprep / tar = " \
            f"{one['mb_per_cpu_s'] / tar['mb_per_cpu_s']:.2f}"
    rd = r["read_1core"]
    text += "\n\n" + md_table(["read (webdataset -> decoded float tensors)", "cores", "samples", "median s",
                               "samples/s", "MB/s", "samples per CPU-s"],
                              [("the one-core shards, .decode('torchrgb').to_tuple('jpg', 'cls')", 1,
                                rd["samples"], rd["median_s"], rd["samples_per_s"], rd["mb_per_s"],
                                f"{rd['samples_per_cpu_s']:.0f}")])
    la = r["machine"].get("loadavg_end", ["?"])
    return machine_line(r["machine"]) + f", at end {la[0]}\n\n" + text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--videos", type=int, default=1000)
    m.add_argument("--frames", type=int, default=8)
    t = sub.add_parser("time")
    t.add_argument("--work", type=Path, required=True)
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--cpus", type=int, default=2)
    t.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.cmd == "make":
        print(json.dumps(make_store(a.out, a.videos, a.frames)))
        return
    r = time_all(a.work, a.repeats, a.cpus)
    print(report(r))
    write_json(a.json, r)


if __name__ == "__main__":
    main()

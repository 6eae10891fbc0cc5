"""Issue 13: what the trainer's streaming shard check costs. MB/s of reading every train shard into samples
(no JPEG decode: the check's cost alone, against the cheapest possible read), three ways:

    webdataset   webdataset's own `tarfile_to_samples` (the reader before issue 13; checks nothing)
    strict       dfprep's `checked_tar_samples` without the index's sizes and sha256 (strict tar parse only)
    checked      dfprep's `checked_tar_samples` as `train` runs it: strict tar + size + sha256 of every byte

plus `decode`: the same checked read with every JPEG decoded and resized to 224 (`decode_sample`), what one
loader worker delivers, to put the check's cost beside the work it sits in. Each figure is the median of
`--repeats` rounds (the methods taking turns; the files are in the page cache after the first round).
Without `--shards`, 224 px photo JPEG shards are written to a temporary SHARDS first (bench/train.py's).

    python bench/shard_check.py [--shards DIR] [--n-shards 16] [--per-shard 256] [--repeats 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, machine_line, write_json  # noqa: E402


def read_all(stage, urls) -> int:
    n = 0
    for _ in stage([{"url": u} for u in urls]):
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=Path)
    ap.add_argument("--n-shards", type=int, default=16)
    ap.add_argument("--per-shard", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    import webdataset as wds

    from dfprep.train.data import LoaderConfig, checked_tar_samples, decode_sample, read_index, split_shards
    from train import write_photo_shards

    tmp = None
    shards = a.shards
    if shards is None:
        tmp = tempfile.TemporaryDirectory()
        shards = write_photo_shards(Path(tmp.name) / "s", a.n_shards, a.per_shard)
        from dfprep.formats.shards import FORMAT, INDEX

        index = json.loads((shards / INDEX).read_text())
        index["format"] = FORMAT                             # what read_shards_index requires
        (shards / INDEX).write_text(json.dumps(index))
    split = split_shards(shards, read_index(shards), "train")
    mb = sum(b for b, _ in split.checks.values()) / 1e6
    cfg = LoaderConfig(size=224)

    def decoded(src):
        return map(partial(decode_sample, cfg=cfg, epoch=0), checked_tar_samples(src, split.checks))

    methods = {"webdataset": wds.tariterators.tarfile_samples,
               "strict": partial(checked_tar_samples, checks={}),
               "checked": partial(checked_tar_samples, checks=split.checks),
               "decode": decoded}
    times: dict[str, list[float]] = {k: [] for k in methods}
    read_all(methods["webdataset"], split.urls)                 # warm the page cache
    for _ in range(a.repeats):
        for name, stage in methods.items():
            t0 = time.perf_counter()
            n = read_all(stage, split.urls)
            times[name].append(time.perf_counter() - t0)
            assert n == split.samples, (name, n)
    info = machine()
    rows = {k: {"seconds": round(statistics.median(v), 4), "mb_per_s": round(mb / statistics.median(v), 1)}
            for k, v in times.items()}
    base, checked = rows["strict"]["seconds"], rows["checked"]["seconds"]
    result = {"machine": info, "shards": len(split.urls), "samples": split.samples, "mb": round(mb, 2),
              "rows": rows, "sha256_cost_s_per_gb": round((checked - base) / mb * 1000, 3),
              "checked_vs_webdataset": round(checked / rows["webdataset"]["seconds"], 3),
              "check_share_of_decode": round((checked - base) / rows["decode"]["seconds"], 4)}
    print(machine_line(info))
    print(f"{len(split.urls)} shards, {split.samples} samples, {mb:.1f} MB")
    for k, r in rows.items():
        print(f"  {k:11s} {r['seconds']:.3f} s  {r['mb_per_s']:.0f} MB/s")
    print(f"sha256 + size check: {result['sha256_cost_s_per_gb']:.2f} s per GB over the strict read; checked read "
          f"= {result['checked_vs_webdataset']:.2f}x webdataset's; {100 * result['check_share_of_decode']:.2f}% "
          "of a decoding loader's time")
    if a.json:
        write_json(a.json, result)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

"""Ingest and train-loader throughput from a local S3 server next to local disk.

    python bench/storage.py [--videos 8] [--repeats 3] [--json bench/results/storage.json]

The S3 server is moto's (`moto_server`, a separate process on 127.0.0.1): a Python server, far slower per
request than a real object store, so the S3 figures are a floor for what the same code gets from S3 or MinIO.
Ingest: the same synthetic corpus ingested from and into local folders, then from and into s3:// (videos
spooled one at a time by the workers). Train loader: every train shard read the way `dfprep train` reads it
(strict tar reader, streaming sha256 check, JPEG decode to tensors) from disk, from s3:// and from http://.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, machine_line, md_table, write_json  # noqa: E402

ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3() -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def make_bucket(endpoint: str, name: str):
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(endpoint_override=endpoint, region="us-east-1", allow_bucket_creation=True,
                           access_key=ENV["AWS_ACCESS_KEY_ID"], secret_key=ENV["AWS_SECRET_ACCESS_KEY"])
    fs.create_dir(name)
    return fs


def upload(local: Path, fs, dest: str) -> None:
    import pyarrow.fs as pafs

    pafs.copy_files(str(local), dest, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def bench_ingest(root: Path, s3root: str, tmp: Path, frames: int) -> list[dict]:
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest
    from dfprep.storage import as_path

    rows = []
    for where, src, out in (("local disk", root, tmp / "work"), ("s3 (moto, 127.0.0.1)", as_path(s3root),
                                                                   as_path(s3root.replace("/root", "/work")))):
        t0 = time.perf_counter()
        s = ingest(src, out, IngestConfig(frames=frames, num_cpus=2, progress=False))
        wall = time.perf_counter() - t0
        st = s.stages or {}
        rows.append({"where": where, "videos": s.processed_this_run, "wall_s": round(wall, 2),
                     "process_s": s.timings.get("process_s"), "videos_per_s": s.timings.get("videos_per_s"),
                     "fetch_cpu_s": (st.get("cpu_s") or {}).get("fetch", 0.0),
                     "stage_cores_busy": st.get("stage_cores_busy")})
    return rows


def read_split(shards, repeats: int) -> dict:
    """The train split read as `dfprep train` reads it, next to its two limits measured on the same bytes: the
    transport alone (each shard's stream read to its end, nothing parsed) and the CPU work alone (the strict
    tar parse, sha256 and JPEG decode of bytes already in memory). The loader cannot beat the slower of the two
    (one process, no overlap), nor their sum when nothing overlaps."""
    import io

    import webdataset as wds

    from dfprep.train.data import decode_jpeg_bytes, read_index, shard_files, split_shards
    from dfprep.shards.tarstream import HashingReader, iter_members
    from dfprep.storage import as_path, is_remote

    split = split_shards(shards, read_index(shards), "train")

    def median(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2]

    def transport():
        for url in split.urls:
            p = as_path(url)
            with (p.open_stream() if is_remote(p) else open(url, "rb")) as fh:
                while fh.read(1 << 20):
                    pass

    blobs = [(as_path(u).read_bytes()) for u in split.urls]

    def cpu():
        for blob in blobs:
            for s in wds.tariterators.group_by_keys(
                    {"fname": f, "data": d, "__url__": "mem"} for f, d in iter_members(HashingReader(io.BytesIO(blob)))):
                decode_jpeg_bytes(s["jpg"])

    count = {"n": 0, "bytes": 0}

    def loader():
        count["n"] = count["bytes"] = 0
        for url in split.urls:
            for s in wds.tariterators.group_by_keys(shard_files(url, split.checks[url])):
                if s:
                    decode_jpeg_bytes(s["jpg"])
                    count["n"] += 1
                    count["bytes"] += len(s["jpg"])

    full, t_io, t_cpu = median(loader), median(transport), median(cpu)
    n = count["n"]
    return {"samples": n, "shard_mb": round(sum(map(len, blobs)) / 1e6, 2), "median_s": round(full, 4),
            "samples_per_s": round(n / full, 1), "transport_s": round(t_io, 4), "cpu_s": round(t_cpu, 4),
            "bound_samples_per_s": round(n / max(t_io, t_cpu), 1), "of_bound": round(max(t_io, t_cpu) / full, 2)}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8, help="videos per part (2 parts)")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.environ.update(ENV)
    proc, endpoint = start_s3()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        from dfprep.shards.config import ShardsConfig
        from dfprep.shards.run import make_shards
        from dfprep.storage import as_path
        from dfprep.synth import SynthConfig, make_corpus

        tmp = Path(tempfile.mkdtemp(prefix="dfprep-bench-storage-"))
        make_corpus(tmp / "root", SynthConfig(parts=2, videos=args.videos, duration=args.duration, fps=15, seed=0))
        fs = make_bucket(endpoint, "bench")
        upload(tmp / "root", fs, "bench/root")
        ingest_rows = bench_ingest(tmp / "root", "s3://bench/root", tmp, args.frames)
        make_shards(tmp / "work", tmp / "shards", ShardsConfig(samples_per_shard=64, progress=False, num_cpus=2,
                                                               augment="off"))
        upload(tmp / "shards", fs, "bench/shards")
        port = free_port()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                 functools.partial(_Quiet, directory=str(tmp / "shards")))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        loader = {"local disk": read_split(tmp / "shards", args.repeats),
                  "s3 (moto, 127.0.0.1)": read_split(as_path("s3://bench/shards"), args.repeats),
                  "http (http.server, 127.0.0.1)": read_split(as_path(f"http://127.0.0.1:{port}"), args.repeats)}
        server.shutdown()
    finally:
        proc.terminate()
    info = machine()
    print(machine_line(info))
    print(md_table(["ingest from/into", "videos", "wall s", "process s", "videos/s", "fetch CPU s", "cores busy"],
                   [[r["where"], r["videos"], r["wall_s"], r["process_s"], r["videos_per_s"], r["fetch_cpu_s"],
                     r["stage_cores_busy"]] for r in ingest_rows]))
    print()
    print(md_table(["train loader from", "samples", "shard MB", "loader s", "samples/s", "transport s",
                    "CPU s (parse+sha+decode)", "bound samples/s", "of bound"],
                   [[k, v["samples"], v["shard_mb"], v["median_s"], v["samples_per_s"], v["transport_s"], v["cpu_s"],
                     v["bound_samples_per_s"], v["of_bound"]] for k, v in loader.items()]))
    write_json(args.json, {"machine": info, "args": vars(args), "ingest": ingest_rows, "loader": loader})


if __name__ == "__main__":
    main()

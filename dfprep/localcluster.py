"""A real multi-node Ray cluster on one machine, on loopback: a head and a second node, each its own raylet.

For tests and drills of cluster behaviour (placement by resources, a node lost mid-run) without a second
host. `python -m dfprep.localcluster up|down|status [--port P]`; `scripts/local_cluster.sh` wraps it.
Token authentication is off: every port is bound to 127.0.0.1 and nothing else can reach it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

DEFAULT_PORT = 6390


def _ray_start(args: list[str]) -> None:
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "dfprep.raynode", "start", "--disable-usage-stats", *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if res.returncode != 0:
        raise RuntimeError(f"ray start failed ({' '.join(args)}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")


STARTUP_TIMED_OUT = "timed out during startup"     # Ray's words when a raylet or the GCS was too slow to come up


def up(port: int = DEFAULT_PORT, head_cpus: int = 2, node_cpus: int = 2,
       head_resources: dict | None = None, node_resources: dict | None = None) -> str:
    """Start the head (resource `detector` by default) and node 2 (resource `node2`); return the address.

    On a loaded machine Ray can give up waiting for its own processes to start; the half-started cluster is then
    stopped and started once more (a second failure is raised)."""
    try:
        return _up(port, head_cpus, node_cpus, head_resources, node_resources)
    except RuntimeError as exc:
        if STARTUP_TIMED_OUT not in str(exc):
            raise
        down(port)
        return _up(port, head_cpus, node_cpus, head_resources, node_resources)


def _up(port: int, head_cpus: int, node_cpus: int, head_resources: dict | None,
        node_resources: dict | None) -> str:
    address = f"127.0.0.1:{port}"
    head_res = json.dumps(head_resources if head_resources is not None else {"detector": 1, "head": 1})
    node_res = json.dumps(node_resources if node_resources is not None else {"node2": 1})
    _ray_start(["--head", "--node-ip-address", "127.0.0.1", f"--port={port}", f"--num-cpus={head_cpus}",
                f"--resources={head_res}", "--include-dashboard=false",
                f"--node-manager-port={port + 1}", f"--object-manager-port={port + 2}"])
    _ray_start([f"--address={address}", "--node-ip-address", "127.0.0.1", f"--num-cpus={node_cpus}",
                f"--resources={node_res}", f"--node-manager-port={port + 3}", f"--object-manager-port={port + 4}"])
    return address


def _pids(pattern_any: list[str]) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(p in cmd for p in pattern_any):
            out.append(int(pid))
    return out


def cluster_pids(port: int = DEFAULT_PORT) -> list[int]:
    """Every process of this cluster (GCS, raylets, workers), and of no other Ray instance."""
    return _pids([f"127.0.0.1:{port}", f"gcs_server_port={port}", f"--gcs-address=127.0.0.1:{port}"])


def _children(parents: list[int]) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in parents:
                out.append(int(pid))
    return out


def node2_pids(port: int = DEFAULT_PORT) -> list[int]:
    """The second node's raylet (by its node-manager port) and the workers it started."""
    raylet = _pids([f"--node_manager_port={port + 3}"])
    return raylet + _children(raylet)


def worker_pids(port: int = DEFAULT_PORT, title: str = "") -> list[int]:
    """Ray worker processes of this cluster (children of its raylets) whose process title contains `title`;
    Ray retitles an actor's process `ray::ClassName...`, so its command line no longer names the cluster."""
    raylets = _pids([f"--node_manager_port={port + 1}", f"--node_manager_port={port + 3}"])
    out = []
    for pid in _children(raylets):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title in cmd:
            out.append(pid)
    return out


def kill(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def down(port: int = DEFAULT_PORT) -> None:
    """Stop this cluster only (`ray stop` would stop every Ray instance on the machine)."""
    kill(cluster_pids(port), signal.SIGTERM)
    deadline = time.time() + 10
    while cluster_pids(port) and time.time() < deadline:
        time.sleep(0.2)
    kill(cluster_pids(port))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m dfprep.localcluster")
    ap.add_argument("action", choices=["up", "down", "status"])
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--head-cpus", type=int, default=2)
    ap.add_argument("--node-cpus", type=int, default=2)
    a = ap.parse_args(argv)
    if a.action == "up":
        addr = up(a.port, a.head_cpus, a.node_cpus)
        print(f"Ray cluster up: head + node2 on loopback.\nexport RAY_ADDRESS={addr}")
    elif a.action == "down":
        down(a.port)
        print("Ray cluster down")
    else:
        print(json.dumps({"port": a.port, "processes": len(cluster_pids(a.port))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

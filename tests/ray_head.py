"""A Ray head on loopback, as `ray start --head` makes it, for tests of Ray's own job machinery.

Its own temp dir and a block of free ports (the machine is shared with other Ray instances), token auth off
(every port is on 127.0.0.1), `dfprep` on the PATH its workers inherit; stopped by its own processes only:
`ray stop` would stop every Ray on the machine.
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cluster_util import env_without_ray
from dfprep.localcluster import cluster_pids, kill

HEAD_PORTS = 9  # gcs, node manager, object manager, client server, dashboard, agent x2, runtime env agent, metrics
# Run with the head's env: every job the cluster ran, as Ray's job server stored it in the GCS.
JOB_INFOS = """
import asyncio, json, sys
from ray._raylet import GcsClient
from ray.dashboard.modules.job.common import JobInfoStorageClient
jobs = asyncio.run(JobInfoStorageClient(GcsClient(address=sys.argv[1])).get_all_jobs())
print(json.dumps({k: {"status": v.status.value, "entrypoint": v.entrypoint, "runtime_env": v.runtime_env,
                      "message": v.message} for k, v in jobs.items()}))
"""


def _free_port_block(n: int) -> int:
    """A base port with n free consecutive ports on 127.0.0.1 (the machine is shared with other clusters)."""
    for _ in range(100):
        base = random.randrange(50000, 60000 - n, 10)
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports")


def _tree(pids: list[int]) -> list[int]:
    """pids and all their descendants (a job's driver is a child of a retitled worker, not named by port)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parent[int(d)] = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(c for c, pp in parent.items() if pp == p)
    return sorted(out)


@contextlib.contextmanager
def ray_head(dashboard: bool):
    """A Ray head on loopback with 2 CPUs, as `ray start --head` makes it, its own temp dir and ports; stopped
    afterwards by its processes only (`ray stop` would stop every Ray on this shared machine)."""
    base = _free_port_block(HEAD_PORTS)
    temp = tempfile.mkdtemp(prefix="dfrj", dir="/tmp")  # short: Ray's unix sockets live under it
    env = dict(env_without_ray(), RAY_AUTH_MODE="disabled",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))  # `dfprep` on PATH
    args = ["--head", "--disable-usage-stats", "--node-ip-address=127.0.0.1", f"--port={base}", "--num-cpus=2",
            f"--temp-dir={temp}", f"--node-manager-port={base + 1}", f"--object-manager-port={base + 2}",
            f"--ray-client-server-port={base + 3}", f"--dashboard-agent-listen-port={base + 5}",
            f"--dashboard-agent-grpc-port={base + 6}", f"--runtime-env-agent-port={base + 7}",
            f"--metrics-export-port={base + 8}"]
    if dashboard:
        args += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={base + 4}"]
    else:
        args += ["--include-dashboard=false"]
    try:
        res = subprocess.run([sys.executable, "-m", "dfprep.raynode", "start", *args], env=env,
                             capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, f"ray start failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        yield {"gcs": f"127.0.0.1:{base}", "dashboard": f"http://127.0.0.1:{base + 4}", "env": env}
    finally:
        procs = _tree(cluster_pids(base))
        kill(procs, signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in procs):
            time.sleep(0.2)
        kill(_tree(procs + cluster_pids(base)), signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)

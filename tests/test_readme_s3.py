"""The README's object-storage example, run as written (only the server's port changed to a free one)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cluster_util import env_without_ray
from s3server import free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block() -> str:
    text = README.read_text()
    section = text[text.index("### On object storage"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_s3_example_runs(tmp_path):
    block = readme_block()
    assert "s3://" in block and "moto_server" in block
    port = str(free_port())
    script = "set -euo pipefail\ntrap 'kill %1 2>/dev/null || true' EXIT\n" + block.replace("9000", port) + \
        "\nsleep 0  # the server is stopped by the trap\n"
    env = env_without_ray()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "s3://dfdc/work/report/index.html" in out
    assert "submission: s3://dfdc/submissions/r1.csv" in out
    assert "log_loss" in out                         # evaluate's table
    assert not list(tmp_path.iterdir())              # nothing written locally: every output went to the store

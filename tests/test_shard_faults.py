"""Interrupting `dfprep shards` and rerunning ends with the uninterrupted run's files."""
from __future__ import annotations

import signal
import subprocess

import pytest

from cluster_util import dfprep_cmd, env_without_ray, run, wait_for

pytestmark = pytest.mark.slow


def test_sigint_mid_shards_then_rerun_equals_uninterrupted(ingest_work, tmp_path):
    args = ["--split", "0.6,0.2,0.2", "--samples-per-shard", "4", "--seed", "1", "--num-cpus", "2",
            "--augment", "all", "--no-progress"]
    ref = tmp_path / "ref"
    res = run(dfprep_cmd("shards", str(ingest_work), "--out", str(ref), *args))
    assert res.returncode == 0, res.stdout + res.stderr
    n_ref = len(list(ref.glob("*.tar")))
    assert n_ref >= 4

    out = tmp_path / "cut"
    proc = subprocess.Popen(dfprep_cmd("shards", str(ingest_work), "--out", str(out), *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env_without_ray())
    assert wait_for(lambda: len(list(out.glob("*.tar"))) >= 1, timeout=300, every=0.05)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, output.decode()
    assert len(list(out.glob("*.tar"))) < n_ref or not (out / "index.json").exists()

    res = run(dfprep_cmd("shards", str(ingest_work), "--out", str(out), *args))
    assert res.returncode == 0, res.stdout + res.stderr
    assert not list(out.glob(".tmp-*"))
    names = sorted(p.name for p in ref.iterdir() if p.suffix in (".tar", ".parquet"))
    assert names == sorted(p.name for p in out.iterdir() if p.suffix in (".tar", ".parquet"))
    for name in names:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name


class _Touch:
    """Unpickling this creates a file: proof that a member was (or was not) unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _rewrite(tar_path, change):
    """Rewrite a shard member by member through `change(name, data) -> [(name, data), ...]`."""
    import io
    import tarfile

    with tarfile.open(tar_path) as src:
        members = [(m.name, src.extractfile(m).read()) for m in src.getmembers() if m.isfile()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as dst:
        for i, (name, data) in enumerate(members):
            for n, d in change(i, name, data):
                info = tarfile.TarInfo(n)
                info.size = len(d)
                dst.addfile(info, io.BytesIO(d))
    tar_path.write_bytes(buf.getvalue())


def _reindex(shards):
    """Make index.json agree with the damaged shard, so that only the structural checks can catch it."""
    import hashlib
    import json

    idx = json.loads((shards / "index.json").read_text())
    for sp in idx["splits"].values():
        for sh in sp["shards"]:
            p = shards / sh["name"]
            sh["bytes"] = p.stat().st_size
            sh["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    (shards / "index.json").write_text(json.dumps(idx))


@pytest.fixture(scope="module")
def clean_shards(ingest_work, tmp_path_factory):
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards

    out = tmp_path_factory.mktemp("shards") / "s"
    make_shards(ingest_work, out, ShardsConfig(split="0.6,0.2,0.2", samples_per_shard=8, seed=2, progress=False,
                                               use_ray=False))
    return out


@pytest.mark.parametrize("fault", ["truncated", "pickle", "dotted_key"])
def test_damaged_shard_is_reported_and_refused(fault, clean_shards, tmp_path):
    import pickle
    import shutil

    from dfprep.shards.verify import verify_shards
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    shards = tmp_path / "s"
    shutil.copytree(clean_shards, shards)
    tar = shards / "train-000000.tar"
    pwned = tmp_path / "PWNED"
    if fault == "truncated":
        tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    elif fault == "pickle":
        def add_pyd(i, name, data):
            out = [(name, data)]
            if i == 0:
                out.append((name.split(".", 1)[0] + ".pyd", pickle.dumps(_Touch(str(pwned)))))
            return out
        _rewrite(tar, add_pyd)
        _reindex(shards)
    else:
        def dot_key(i, name, data):
            key, ext = name.split(".", 1)
            return [((key[:4] + "." + key[4:] + "." + ext) if i < 3 else name, data)]
        _rewrite(tar, dot_key)
        _reindex(shards)

    problems = verify_shards(shards)
    assert problems, fault
    assert any("train-000000.tar" in p for p in problems), problems
    with pytest.raises(Exception) as err:
        train(shards, tmp_path / "run", TrainConfig(model="smallcnn", input_size=32, epochs=1, batch_size=4,
                                                    workers=0, progress=False, augment=False))
    assert "train-000000.tar" in str(err.value), str(err.value)  # the error names the shard
    assert not pwned.exists()  # nothing was unpickled

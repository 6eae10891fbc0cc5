"""Issue 18, item 6: one rule for a name a record joins to its folder (`dfprep.names`), the same in `shards
verify` as in `train`. Before: an index.json entry `../x.tar` was followed out of SHARDS (locally and on S3) and
reported ok, while train refused it; `s3://other/x.tar` crashed verify with a traceback. Now verify refuses both
with the line train gives (exit 1, never opening the file), on a local folder and on a real S3 server (moto).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfprep.names import name_problem
from dfprep.cli import app as dfprep_app
from dfprep.shards.config import ShardsUsageError
from dfprep.formats.shards import read_shards_index
from dfprep.shards.run import make_shards
from dfprep.shards.verify import verify_shards
from shards_util import cfg, write_store


@pytest.fixture(scope="module")
def cut(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("paths")
    work, out = base / "work", base / "shards"
    write_store(work, parts=1, families=8)
    make_shards(work, out, cfg())
    return work, out


def _rename_first(folder: Path, name: str) -> dict:
    """index.json with its first train shard listed under `name` (bytes and sha256 unchanged)."""
    index = json.loads((folder / "index.json").read_text())
    entry = index["splits"]["train"]["shards"][0]
    old, entry["name"] = entry["name"], name
    (folder / "index.json").write_text(json.dumps(index))
    return {"old": old, "entry": entry}


@pytest.mark.parametrize("name", ["/abs/x.tar", "s3://other/x.tar", "C:x.tar", "a/../x.tar", "..", "x/y.tar",
                                  "", "a\x00b"])
def test_the_rule_refuses_every_name_that_leaves_its_folder(name):
    assert name_problem(name) is not None and name_problem("train-000000.tar") is None
    assert name_problem("é" * 127) is None and name_problem("é" * 128) is not None        # 254 / 256 bytes


def test_verify_refuses_a_name_outside_shards_as_train_does_and_never_opens_it(cut, tmp_path):
    work, out = cut
    folder = tmp_path / "inner" / "shards"
    shutil.copytree(out, folder)
    moved = _rename_first(folder, "../x.tar")
    outside = tmp_path / "inner" / "x.tar"
    shutil.move(folder / moved["old"], outside)          # the same bytes: following the name would say "ok"
    os.utime(outside, (0, outside.stat().st_mtime))      # atime 0: any read sets it (relatime)
    with pytest.raises(ShardsUsageError) as refused:
        read_shards_index(folder)                        # what train reads
    problems = verify_shards(folder, work)
    assert problems == [str(refused.value)] and "'../x.tar'" in problems[0] and "never opened" in problems[0]
    res = CliRunner().invoke(dfprep_app, ["shards", "verify", str(folder), "--work", str(work)])
    assert res.exit_code == 1 and "ok:" not in res.output and "Traceback" not in res.output
    control = tmp_path / "control"
    control.write_bytes(b"x" * 100)
    os.utime(control, (0, control.stat().st_mtime))
    control.read_bytes()
    if control.stat().st_atime == 0:
        pytest.skip("this filesystem does not record reads (noatime): cannot show the file was never opened")
    assert outside.stat().st_atime == 0


def test_verify_says_a_uri_name_is_a_problem_not_a_traceback(cut, tmp_path):
    work, out = cut
    folder = tmp_path / "shards"
    shutil.copytree(out, folder)
    _rename_first(folder, "s3://other/x.tar")
    res = CliRunner().invoke(dfprep_app, ["shards", "verify", str(folder)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    first = res.output.split("\n1 problem(s)")[0]
    assert first.startswith("problem ") and "'s3://other/x.tar' has a scheme" in first and "\n" not in first


def test_verify_checks_the_wids_descriptions_names(cut, tmp_path):
    work, out = cut
    folder = tmp_path / "shards"
    shutil.copytree(out, folder)
    wids = json.loads((folder / "wids-train.json").read_text())
    wids["shardlist"][0]["url"] = "../elsewhere.tar"
    (folder / "wids-train.json").write_text(json.dumps(wids))
    problems = verify_shards(folder, work)
    assert problems == ["wids-train.json: shard url '../elsewhere.tar' is or contains a relative path component "
                        "(. or ..): not a plain name inside SHARDS"]


def test_verify_on_s3_refuses_names_outside_shards(cut, bucket):
    from test_s3_ingest import upload_tree

    work, out = cut
    shards = bucket / "a" / "shards"
    upload_tree(out, shards)
    index = json.loads((shards / "index.json").read_text())
    first = index["splits"]["train"]["shards"][0]
    (bucket / "a" / "x.tar").write_bytes((shards / first["name"]).read_bytes())   # following it would say ok
    for name in ("../x.tar", "s3://other/x.tar", f"{bucket}/a/x.tar"):
        first["name"] = name
        (shards / "index.json").write_text(json.dumps(index))
        problems = verify_shards(shards)
        assert len(problems) == 1 and repr(name) in problems[0] and "refused, never opened" in problems[0], problems
        res = CliRunner().invoke(dfprep_app, ["shards", "verify", str(shards)])
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output

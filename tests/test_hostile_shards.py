"""What dfprep withstands: hostile shards, resource bombs, tampered indexes, interrupted runs.

Every case uses real shards written by `dfprep shards` (on the synthetic face store of tests/test_shards.py) and
read back through webdataset by the real trainer; nothing is mocked. Each refusal is one line naming the shard
and the member, never a traceback: exit status 1 for bad data, 2 for misuse.

Read top to bottom, this file is the list:

1. streaming integrity: shard bytes changed behind index.json's back stop `train` (not only `verify`);
2. `verify --work`: crops replaced *and* index.json rewritten to match are still caught against the face store;
3. tar attacks: `../x`, a header that lies about its size, a symlink: `train` stops naming shard and member;
4. the pixel budget: a 30000x30000 JPEG is refused from its header by verify, train, predict's decoder, explain;
5. a deterministic `model.pt`: two identical runs give the same bytes;
6. an interrupted `dfprep shards`: verify says the run is incomplete; the resume keeps every finished shard.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from dfprep.cli import app as dfprep_app
from dfprep.shards.config import ShardsConfig
from dfprep.shards.run import make_shards
from dfprep.shards.verify import verify_shards
from test_shards import write_store

TESTS = Path(__file__).resolve().parent
SPS = 24
SHARDS_CFG = dict(samples_per_shard=SPS, augment="all", seed=3, use_ray=False, progress=False)


# ---------------------------------------------------------------- real shards, and how to tamper with them

@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("store"), parts=2, families=8, seed=5)


@pytest.fixture(scope="module")
def shards(store, tmp_path_factory) -> Path:
    """Every train sample augmented (`--augment all`), val and test as the face store's bytes."""
    out = tmp_path_factory.mktemp("shards") / "s"
    make_shards(store, out, ShardsConfig(**SHARDS_CFG))
    return out


@pytest.fixture
def copy(shards, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(shards, out)
    return out


def _members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()]


def _write_tar(path: Path, members: list) -> None:
    """Members as (name, bytes) or ready TarInfo (for links), in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    path.write_bytes(buf.getvalue())


def _reindex(out: Path) -> None:
    """Rewrite index.json's bytes and sha256 of every shard to match the files: the forger's last step."""
    index = json.loads((out / "index.json").read_text())
    for split in index["splits"].values():
        for e in split["shards"]:
            data = (out / e["name"]).read_bytes()
            e.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (out / "index.json").write_text(json.dumps(index))


def _train_app() -> typer.Typer:
    """The `dfprep` app itself: its commands report errors through the one handler (dfprep.cli.reported)."""
    from dfprep.cli import app

    return app


def _train(shards: Path, out: Path, *extra: str):
    return CliRunner().invoke(_train_app(), ["train", str(shards), "--out", str(out), "--model", "smallcnn",
                                             "--input-size", "32", "--batch-size", "8", "--epochs", "1",
                                             "--workers", "0", "--no-augment", "--no-progress", *extra])


def _refusal(res, code: int = 1) -> str:
    """The one line a refusal prints: the exit status, no traceback, exactly one `error:` line."""
    assert res.exit_code == code, (res.exit_code, res.output)
    assert "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if "error:" in line]
    assert len(errors) == 1, res.output
    return errors[0]


def _first_train_shard(out: Path) -> Path:
    return sorted(out.glob("train-*.tar"))[0]


# ---------------------------------------------------------------- 1. streaming integrity

def test_clean_shards_pass_verify_with_work_and_train_reads_them(shards, store, tmp_path):
    """The baseline: real shards pass `verify --work` (every crop compared with the face store, augmented
    ones by re-running their recorded augmentation) and `train` streams them with every check on, exit 0."""
    assert verify_shards(shards, store) == []
    res = _train(shards, tmp_path / "run", "--max-steps", "2")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("change", ["flipped_byte", "truncated"])
def test_changed_shard_bytes_stop_train(change, copy, tmp_path):
    """Attack: a shard's bytes are changed (one flipped byte inside a JPEG; or the file cut short) but
    index.json is not. Before: `train` read it without a word (only `verify` noticed). Now: the trainer
    hashes every shard as it streams it; a size that differs is refused when the shard is opened, a sha256
    that differs at the shard's end (before its last sample is let through). `dfprep train` stops with one
    line naming the shard, exit 1."""
    for p in sorted(copy.glob("train-*.tar")):          # every train shard: whichever the loader reads first
        data = bytearray(p.read_bytes())
        if change == "flipped_byte":                   # the JFIF density of a crop: it still decodes, same size
            jpg = next(d for n, d in _members(p) if n.endswith(".jpg"))
            data[data.index(jpg) + 15] ^= 0x01
        else:
            data = data[:len(data) // 2]
        p.write_bytes(bytes(data))
    line = _refusal(_train(copy, tmp_path / "run"))
    assert "train-" in line and ".tar" in line
    assert ("sha256" in line) if change == "flipped_byte" else ("index.json says" in line)


# ---------------------------------------------------------------- 2. verify --work against the face store

def _reencoded(jpeg: bytes) -> bytes:
    """The same picture, other bytes (what a forger swapping crops would produce)."""
    with Image.open(io.BytesIO(jpeg)) as im:
        im = im.convert("RGB").rotate(90)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def test_verify_work_catches_replaced_jpegs_even_with_a_rewritten_index(copy, store):
    """Attack: every JPEG of a val shard (un-augmented crops) and of a train shard (augmented crops) is
    replaced, and index.json's sizes and sha256 are rewritten to match. Before: `verify --work WORK` said ok.
    Now: verify compares each un-augmented crop with the face store's JPEG (byte-identical: shards copy them)
    and each augmented one with its recorded augmentation (seed and p in the sample's json) re-run on the face
    store's crop, and lists every mismatch by shard and key."""
    targets = [sorted(copy.glob("val-*.tar"))[0], _first_train_shard(copy)]
    keys = {}
    for p in targets:
        members = [(n, _reencoded(d) if n.endswith(".jpg") else d) for n, d in _members(p)]
        keys[p.name] = [n.split(".", 1)[0] for n, _ in members if n.endswith(".jpg")]
        _write_tar(p, members)
    _reindex(copy)
    problems = verify_shards(copy, store)
    text = "\n".join(problems)
    val, train = targets
    assert f"{val.name}: sample {keys[val.name][0]}: jpg is not byte-identical to the face store's crop" in text
    assert f"{train.name}: sample {keys[train.name][0]}: jpg differs from its recorded augmentation" in text
    assert not any("sha256" in p for p in problems)          # the index agrees: only the face store tells

    res = CliRunner().invoke(dfprep_app, ["shards", "verify", str(copy), "--work", str(store)])
    assert res.exit_code == 1 and "not byte-identical" in res.output


# ---------------------------------------------------------------- 3. tar attacks

def _lying_header(data: bytes, members: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """The shard with its first JPEG member's header claiming half its real size (checksum fixed up)."""
    name, payload = next((n, d) for n, d in members if n.endswith(".jpg"))
    at = data.index(name.encode() + b"\0")                 # that member's header
    h = bytearray(data[at:at + 512])
    h[124:136] = b"%011o\0" % (len(payload) // 2)
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return data[:at] + bytes(h) + data[at + 512:], name


@pytest.mark.parametrize("attack", ["dotdot", "lying_size", "symlink"])
def test_tar_attacks_stop_train_and_verify_names_them(attack, copy, tmp_path):
    """Attack: a shard holding a member named `../x`; a member whose header lies about its size; a symlink
    member (-> /etc/passwd) - each with index.json rewritten to match. Before: a traceback from tarfile deep in
    the loader, or the symlink silently skipped. Now: the trainer reads tars strictly (only regular members
    with plain names, valid header checksums, nothing after the end of the archive): `train` stops with one
    line naming the shard and the member, exit 1; `verify` reports the same."""
    attacked = {}                                         # shard -> the member that attacks it
    for p in sorted(copy.glob("train-*.tar")):
        members = _members(p)
        if attack == "dotdot":
            _write_tar(p, [("../x", b"escape"), *members])
            attacked[p.name] = "../x"
        elif attack == "symlink":
            link = tarfile.TarInfo(members[0][0].split(".", 1)[0] + ".jpg")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            _write_tar(p, [link, *members])
            attacked[p.name] = link.name
        else:
            data, attacked[p.name] = _lying_header(p.read_bytes(), members)
            p.write_bytes(data)
    _reindex(copy)
    line = _refusal(_train(copy, tmp_path / "run"))
    assert any(f"{shard}: member {m!r}" in line or (f"{shard}: " in line and f"after member {m!r}" in line)
               for shard, m in attacked.items()), line
    if attack == "symlink":
        assert "symlink" in line and "/etc/passwd" in line
    problems = "\n".join(verify_shards(copy))
    for shard, m in attacked.items():
        assert f"{shard}: tar: member {m!r}" in problems or f"after member {m!r}" in problems, problems


# ---------------------------------------------------------------- 4. the pixel budget

def _huge_jpeg(width: int = 30000, height: int = 30000) -> bytes:
    """A valid small JPEG whose frame header claims width x height: a few hundred bytes on disk, 2.5 GiB of
    RGB if anything decoded it."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_header_sizes_are_read_without_decoding():
    """The budget reads width x height from the header alone: equal to PIL's for a real JPEG."""
    from dfprep.imagesize import check_pixels, jpeg_size

    buf = io.BytesIO()
    Image.new("RGB", (40, 24)).save(buf, "JPEG", progressive=True)
    assert jpeg_size(buf.getvalue()) == (40, 24) == check_pixels(buf.getvalue())
    assert jpeg_size(_huge_jpeg()) == (30000, 30000)
    assert jpeg_size(b"not a jpeg") is None


def test_a_30000px_jpeg_in_a_shard_is_refused_before_decoding(copy, tmp_path):
    """Attack: one crop of a shard replaced by a JPEG whose header says 30000x30000 (index.json rewritten to
    match). Before: `verify` reported it, but `train` decoded it (3.7 GiB in one loader process). Now: the
    trainer reads width x height from the JPEG header before decoding; over `--max-image-pixels` (default
    4096x4096) it stops with one line naming shard and member, exit 1; verify reports it the same way."""
    for p in sorted(copy.glob("train-*.tar")):
        members = _members(p)
        i = next(i for i, (n, _) in enumerate(members) if n.endswith(".jpg"))
        members[i] = (members[i][0], _huge_jpeg())
        _write_tar(p, members)
    _reindex(copy)
    line = _refusal(_train(copy, tmp_path / "run"))
    assert "train-" in line and ".jpg" in line and "30000x30000" in line and "pixel budget" in line
    problems = "\n".join(verify_shards(copy))
    assert "30000x30000 pixels" in problems and "over the pixel budget" in problems


def test_predict_decoder_refuses_a_crop_over_budget():
    """predict's crop decoder checks every crop's header first: a 30000x30000 crop raises ImageTooLarge (that
    video then gets 0.5 with the reason), nothing is decoded."""
    from dfprep.imagesize import ImageTooLarge
    from dfprep.inference.predict import decode_crops

    with pytest.raises(ImageTooLarge, match="30000x30000"):
        decode_crops([_huge_jpeg()])


# ---------------------------------------------------------------- 5. deterministic model.pt (and explain)

@pytest.fixture(scope="module")
def two_runs(shards, tmp_path_factory) -> tuple[Path, Path]:
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    base = tmp_path_factory.mktemp("runs")
    runs = (base / "a", base / "b")
    for r in runs:
        train(shards, r, TrainConfig(model="smallcnn", epochs=1, max_steps=1, batch_size=8, input_size=32,
                                     workers=0, augment=False, progress=False))
    return runs


def test_model_pt_is_byte_identical_between_identical_runs(two_runs):
    """Defect: `model.pt` differed byte for byte between two identical runs, because torch.save names the
    zip's inner folder after the (random) temporary file. Now it is written under its final name inside a
    temporary folder and renamed: the inner folder is `model`, and two identical 1-step runs give equal bytes."""
    a, b = two_runs
    assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()
    with zipfile.ZipFile(a / "model.pt") as z:
        assert {n.split("/", 1)[0] for n in z.namelist()} == {"model"}
    assert not list(a.glob(".tmp-*"))


def test_explain_refuses_an_image_over_budget(two_runs, tmp_path):
    """Attack: `dfprep explain RUN big.jpg` on a JPEG whose header says 30000x30000. Before: a traceback.
    Now: the image's size is read from its header before decoding; over `--max-image-pixels` it is one line
    naming the file, exit 1. A normal crop is still explained, and the option tightens the budget."""
    run = two_runs[0]
    big = tmp_path / "big.jpg"
    big.write_bytes(_huge_jpeg())
    app = _train_app()
    line = _refusal(CliRunner().invoke(app, ["explain", str(run), str(big), "--out", str(tmp_path / "x"),
                                             "--device", "cpu"]))
    assert "big.jpg" in line and "30000x30000" in line
    small = tmp_path / "small.jpg"
    Image.new("RGB", (48, 48), (90, 120, 40)).save(small, "JPEG")
    ok = CliRunner().invoke(app, ["explain", str(run), str(small), "--out", str(tmp_path / "y"), "--device", "cpu"])
    assert ok.exit_code == 0, ok.output
    line = _refusal(CliRunner().invoke(app, ["explain", str(run), str(small), "--out", str(tmp_path / "z"),
                                             "--device", "cpu", "--max-image-pixels", "1000"]))
    assert "48x48" in line and "pixel budget of 1000" in line


# ---------------------------------------------------------------- 6. interrupted `dfprep shards`, resumed

_INTERRUPTED_SHARDS = """
import json, sys
from pathlib import Path
import dfprep.shards.run as run
from dfprep.shards.config import ShardsConfig

write, calls = run.write_shard, [0]
def write_after_three(*args, **kw):     # three shards written, then: say so and wait (the SIGINT lands here)
    if calls[0] == 3:
        print("three written", flush=True)
        sys.stdin.readline()
    calls[0] += 1
    return write(*args, **kw)
run.write_shard = write_after_three
run.make_shards(Path(sys.argv[1]), Path(sys.argv[2]), ShardsConfig(**json.loads(sys.argv[3])))
"""


def test_interrupted_shards_run_is_reported_incomplete_and_resumes_without_rewriting(store, shards, tmp_path):
    """Defect: the docs said index.json is written after every shard; it is written last, so an interrupted
    SHARDS folder has none and `verify` said a bare 'index.json not found'; and a resume rewrote 8-10 of 11
    finished shards, because `_state.json` was only written every 2 s while shards finished, and not at all
    on the way out. Now: the state is written on the way out of an interrupted run too (with shards Ray
    finished but the driver had not collected); verify says the run is incomplete and how many shards it
    finished; the resume keeps every finished shard file untouched (same inode and mtime) and ends with the
    uninterrupted run's bytes."""
    out = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_SHARDS, str(store), str(out), json.dumps(SHARDS_CFG)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=TESTS.parent)
    seen = []
    for line in proc.stdout:        # the handshake: the run says when three shards are written, then waits
        seen.append(line)
        if line.strip() == b"three written":
            break
    assert seen and seen[-1].strip() == b"three written", b"".join(seen).decode()
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output.decode()
    assert not (out / "index.json").exists() and (out / "_state.json").is_file()
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("[a-z]*.tar")}
    total = len(list(shards.glob("*.tar")))
    assert len(finished) == 3 < total
    state = json.loads((out / "_state.json").read_text())
    assert {e["name"] for e in state["done"]} == set(finished)       # every finished shard is recorded

    problems = verify_shards(out)
    assert len(problems) == 1 and "incomplete" in problems[0] and f"{len(finished)} shard(s) finished" in problems[0]
    res = CliRunner().invoke(dfprep_app, ["shards", "verify", str(out)])
    assert res.exit_code == 1 and "incomplete" in res.output and "Traceback" not in res.output

    again = make_shards(store, out, ShardsConfig(**SHARDS_CFG))
    assert again.reused == len(finished) and again.written == total - len(finished)
    for name, st in finished.items():
        p = out / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == st, f"{name} was rewritten"
    names = sorted(p.name for p in shards.iterdir() if p.suffix in (".tar", ".parquet"))
    assert names == sorted(p.name for p in out.iterdir() if p.suffix in (".tar", ".parquet"))
    for name in names:
        assert (out / name).read_bytes() == (shards / name).read_bytes(), name
    assert verify_shards(out, store) == []

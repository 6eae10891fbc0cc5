"""dfprep's outputs read by other people's libraries, exactly as docs/formats.md tells them to.

SHARDS (oversampled, augmented, three splits, grown once so two generations of shards are read together) through
HuggingFace `datasets`, `wids`, Ray Data and plain `webdataset`: every reader sees the samples, keys and counts
index.json promises. WORK's Parquet stores through pandas, polars and DuckDB with the documented glob: the row
counts pyarrow gives. RUN/metrics.csv through pandas, from a run trained here for one epoch.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as pads
import PIL.Image
import pytest
import webdataset as wds

from dfprep.dataset import SPLITS
from dfprep.shards.config import ShardsConfig
from dfprep.shards.run import make_shards
from dfprep.shards.samples import augmentation_record

JSON_KEYS = {"key", "video", "part", "family", "split", "label", "repeat", "frame_idx", "track_id", "box", "prob",
             "augmentation", "dataset", "method"}     # sample_schema 3: dataset and method
STORE_GLOB = "part-*/batch-*.parquet"       # docs/formats.md: the batch files, never a temporary


@pytest.fixture(scope="module")
def shards(ingest_work, tmp_path_factory) -> Path:
    """Cut from part 0 of the ingested WORK (its part-0 batch files: what `ingest --parts 0` writes), then grown
    by part 1: oversampled and augmented, train/val/test."""
    base = tmp_path_factory.mktemp("interop")
    part0 = base / "work0"
    shutil.copytree(ingest_work, part0, ignore=lambda d, names: [n for n in names if n.startswith("part-")
                                                                  and n != "part-0"])
    out = base / "shards"
    cfg = ShardsConfig(split="2,1,1", balance="oversample", samples_per_shard=6, use_ray=False, progress=False)
    make_shards(part0, out, cfg)
    index = make_shards(ingest_work, out, cfg).index
    assert len(index["generations"]) == 2
    assert all(index["splits"][s]["samples"] for s in SPLITS)
    return out


def _index(out: Path) -> dict:
    return json.loads((out / "index.json").read_text())


def _urls(out: Path, split: str) -> list[str]:
    return [str(out / e["name"]) for e in _index(out)["splits"][split]["shards"]]


def _keys(out: Path, split: str) -> list[str]:
    return sorted(s["__key__"] for s in wds.WebDataset(_urls(out, split), shardshuffle=False, empty_check=False))


def test_plain_webdataset(shards):
    index = _index(shards)
    augmented = 0
    for split in SPLITS:
        n = 0
        for s in wds.WebDataset(_urls(shards, split), shardshuffle=False).decode():
            assert set(s) - {"__key__", "__url__", "__local_path__"} == set(index["members"])
            assert set(s["json"]) == JSON_KEYS and set(s["json"]["augmentation"]) == set(augmentation_record(None))
            augmented += s["json"]["augmentation"]["augmented"]
            n += 1
        assert n == index["splits"][split]["samples"]
    assert augmented == sum(index["splits"][s]["augmented"] for s in SPLITS) > 0


def test_huggingface_datasets(shards, tmp_path):
    import datasets     # a test extra: a broken install fails here, it is not skipped
    index = _index(shards)
    dd = datasets.load_dataset("webdataset", data_files={s: _urls(shards, s) for s in SPLITS},
                               cache_dir=str(tmp_path / "hf"))
    for split in SPLITS:
        d = dd[split]
        assert d.num_rows == index["splits"][split]["samples"]
        assert set(d.column_names) == set(index["members"]) | {"__key__", "__url__"}
        assert sorted(d["__key__"]) == _keys(shards, split)
        rows = d.select_columns(["json", "cls"]).to_list()
        assert all(set(r["json"]) == JSON_KEYS and r["cls"] == ("REAL", "FAKE").index(r["json"]["label"])
                   for r in rows)
        assert sum(r["json"]["augmentation"]["augmented"] for r in rows) == index["splits"][split]["augmented"]
    aug = dd["train"].features["json"]["augmentation"]
    assert aug["seed"].dtype == "int64" and aug["rotate_angle"].dtype == "float64" and aug["ops"].dtype == "string"
    img = dd["train"][0]["jpg"]                                                   # decoded as a PIL image
    assert isinstance(img, PIL.Image.Image) and img.size[0] > 0 and img.size == img.size[::-1]   # square crops


def test_wids_index(shards, tmp_path):
    import wids
    index = _index(shards)
    for split in SPLITS:
        ds = wids.ShardListDataset(str(shards / index["wids"][split]), cache_dir=str(tmp_path / split),
                                   transformations=[])
        assert len(ds) == index["splits"][split]["samples"]
        samples = [ds[i] for i in range(len(ds))]
        assert sorted(s["__key__"] for s in samples) == _keys(shards, split)
        assert all({k for k in s if not k.startswith("__")} == {"." + m for m in index["members"]} for s in samples)
        raw = [s[".json"].getvalue() if hasattr(s[".json"], "getvalue") else s[".json"] for s in samples]
        assert all(set(json.loads(r)) == JSON_KEYS for r in raw)          # wids hands members as streams


def test_ray_data_read_webdataset(shards):
    import ray

    from dfprep.rayinit import init_ray

    index = _index(shards)
    started = init_ray("local", 2)
    try:
        for split in SPLITS:
            rows = ray.data.read_webdataset(_urls(shards, split)).take_all()
            assert len(rows) == index["splits"][split]["samples"]
            assert sorted(r["__key__"] for r in rows) == _keys(shards, split)
            assert all(set(r["json"]) == JSON_KEYS and r["jpg"].ndim == 3 for r in rows)   # json dict, jpg array
    finally:
        if started:
            ray.shutdown()


@pytest.mark.parametrize("store", ["videos.parquet", "faces.parquet"])
def test_work_stores_with_pandas_polars_duckdb(ingest_work, store):
    import duckdb
    import pandas as pd
    import polars as pl

    path = ingest_work / store
    assert len(list(path.glob(STORE_GLOB))) >= 2                            # one batch file per part at least
    table = pads.dataset(path, format="parquet").to_table(columns=["part", "video"])
    want = sorted(zip(table["part"].to_pylist(), table["video"].to_pylist()))
    assert want
    frame = pd.read_parquet(path, columns=["part", "video"])
    assert sorted(zip(frame["part"], frame["video"])) == want
    lazy = pl.scan_parquet(str(path / STORE_GLOB)).select("part", "video").collect()
    assert sorted(lazy.iter_rows()) == want
    con = duckdb.connect()
    got = con.execute(f"select part, video from read_parquet('{path / STORE_GLOB}')").fetchall()
    assert sorted(got) == want


def test_run_metrics_csv_with_pandas(shards, tmp_path):
    import pandas as pd

    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    run = tmp_path / "run"
    summary = train(shards, run, TrainConfig(model="smallcnn", epochs=1, batch_size=16, input_size=48, workers=0,
                                             progress=False, augment=False))
    metrics = pd.read_csv(run / "metrics.csv")
    assert sorted(zip(metrics["split"], metrics["level"])) == sorted(
        (s, lv) for s in ("val", "test") for lv in ("frame", "video"))
    for r in metrics.itertuples():
        assert r.n == getattr(summary, r.split)[r.level]["n"]
        assert r.log_loss == pytest.approx(getattr(summary, r.split)[r.level]["log_loss"])

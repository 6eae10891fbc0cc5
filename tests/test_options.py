"""Each option is declared once, on its config dataclass: the CLI's options, defaults and help come from there."""
from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from dfprep.cli import app
from dfprep.ingest.config import CropOverrides, IngestConfig
from dfprep.shards.config import ShardsConfig
from dfprep.train.config import TrainConfig

runner = CliRunner()


@pytest.mark.parametrize("cls, words", [(IngestConfig, ["ingest"]), (ShardsConfig, ["shards", "write"]),
                                        (TrainConfig, ["train"]), (CropOverrides, ["predict"]),
                                        (CropOverrides, ["explain"])])
def test_every_setting_is_an_option_with_its_declared_default_and_help(cls, words):
    res = runner.invoke(app, [*words, "--help"], terminal_width=400, env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", False):
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        assert flag in text, (cls.__name__, flag)
        assert " ".join(f.metadata["help"].split())[:40] in text, (cls.__name__, f.name)


def test_crop_overrides_are_crop_settings_of_ingests_types():
    """`dfprep predict/explain` options name crop settings (CROP_SETTINGS, derived from FaceParams and the
    detector's), each of IngestConfig's type or None; FaceParams' defaults are IngestConfig's."""
    import typing

    from dfprep.faces.params import FaceParams
    from dfprep.ingest.config import CROP_SETTINGS

    hints, ingest_hints = typing.get_type_hints(CropOverrides), typing.get_type_hints(IngestConfig)
    for f in dataclasses.fields(CropOverrides):
        assert f.name in CROP_SETTINGS, f.name
        assert hints[f.name] in (ingest_hints[f.name], typing.Optional[ingest_hints[f.name]]), f.name
    assert set(CROP_SETTINGS) == {"detector", "min_face_size", *(f.name for f in dataclasses.fields(FaceParams))}
    cfg = IngestConfig()
    assert all(getattr(cfg, f.name) == f.default for f in dataclasses.fields(FaceParams) if f.name != "threshold")
    assert cfg.face_params() == FaceParams()      # MTCNN's default threshold is FaceParams' too


def test_options_reach_the_config(tmp_path, monkeypatch):
    """A command builds its config from the parsed options: what the library function receives."""
    import dfprep.ingest.run as run

    seen = {}

    def fake_ingest(root, out, cfg, overwrite=False):
        seen["cfg"], seen["overwrite"] = cfg, overwrite
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "ingest", fake_ingest)
    res = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "w"), "--frames", "7", "--margin",
                              "0.2", "--no-identity", "--timeout", "9", "--det-cross-video", "--overwrite"])
    assert res.exit_code == 130
    cfg = seen["cfg"]
    assert (cfg.frames, cfg.margin, cfg.identity, cfg.timeout_s, cfg.det_cross_video) == (7, 0.2, False, 9.0, True)
    assert seen["overwrite"] is True
    assert dataclasses.replace(cfg, frames=32, margin=0.3, identity=True, timeout_s=300.0,
                               det_cross_video=None) == IngestConfig()


def test_version():
    from importlib.metadata import version

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"dfprep {version('dfprep')}"

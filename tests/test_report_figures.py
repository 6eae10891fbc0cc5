"""The EDA report's figures, read back from what matplotlib drew (legend and bar geometry after drawing), on
stats computed from a real ingest; and the "nothing decoded" alarm, from a real ingest of broken files."""
from __future__ import annotations

import json
import re
import sys
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.patches import StepPatch
from typer.testing import CliRunner

from dfprep.analysis.figures import COLORS, FIGURES, fig_health, fig_labels, fig_lengths
from dfprep.analysis.run import analyze, full_stats
from dfprep.analysis.summaries import histogram_by


@pytest.fixture(scope="module")
def stats(ingest_work) -> dict:
    return full_stats(ingest_work, augment_preview=False)[0]


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _bar_axes(fig) -> list:
    return [ax for ax in fig.axes if any(isinstance(c, BarContainer) for c in ax.containers)]


def test_stacked_bar_legends_sit_outside_the_bars(stats):
    """Inside the axes a legend lands on the bars and the FAKE swatch disappears on the FAKE segment."""
    for fig in (fig_health(stats), fig_labels(stats)):
        r = _drawn(fig)
        stacked = [ax for ax in _bar_axes(fig) if ax.get_legend() is not None]
        assert stacked, "no bar chart with a legend drawn"
        for ax in stacked:
            leg = ax.get_legend()
            box, area = leg.get_window_extent(r), ax.get_window_extent(r)
            assert box.x0 >= area.x1, (box, area)           # wholly right of the plotting area
            texts = [t.get_text() for t in leg.get_texts()]
            assert texts[0] == "FAKE" and "REAL" in texts     # top segment first, as stacked
            fake = leg.legend_handles[0]
            assert fake.get_facecolor()[:3] == pytest.approx(tuple(int(COLORS["FAKE"][i:i + 2], 16) / 255
                                                                   for i in (1, 3, 5)))
            for bar in (p for c in ax.containers for p in c):   # no bar reaches into the legend
                assert not bar.get_window_extent(r).overlaps(box)


def test_count_charts_name_their_y_axis_and_count_in_whole_numbers(stats):
    checked = 0
    for name, (needs, draw) in FIGURES.items():
        if not all(stats.get(k) for k in needs):
            continue
        fig = draw(stats)
        _drawn(fig)
        for ax in _bar_axes(fig):
            assert ax.get_ylabel(), f"{name}: {ax.get_title()!r} has no y label"
            if ax.get_ylabel() != "share":
                ticks = ax.get_yticks()
                assert np.allclose(ticks, np.round(ticks)), f"{name}: {ax.get_title()!r} ticks {ticks}"
            checked += 1
    assert checked >= 6


def test_constant_length_is_one_bar_at_its_value(stats, ingest_work):
    """The synthetic corpus is DFDC-like in one way: every video has the same length (1 s, 10 frames, 10 fps)."""
    import pyarrow.parquet as pq

    durations = {v["duration_s"] for v in pq.read_table(ingest_work / "videos.parquet").to_pylist()}
    assert len(durations) == 1
    value = durations.pop()
    fig = fig_lengths(stats)
    r = _drawn(fig)
    ax = next(a for a in fig.axes if a.get_title() == stats["lengths"]["numeric"]["duration_s"]["title"])
    assert not [p for p in ax.patches if isinstance(p, StepPatch)]          # no spread of (empty) bins
    bars = [p for c in ax.containers for p in c]
    by_label = stats["lengths"]["numeric"]["duration_s"]["histogram"]["counts"]
    assert len(bars) == len(by_label) == 2                                  # REAL and FAKE, one bar each
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{value:g}"]
    tick = ax.get_xticks()[0]
    assert all(abs(c - tick) < 0.5 for c in centres) and max(b.get_height() for b in bars) == 1.0
    assert ax.get_window_extent(r).width > 0


def test_near_constant_floats_are_one_bin_not_thirty_coinciding_ones():
    """DFDC's 300 frames at 29.97 fps: durations equal but for float noise past stats.json's 4 decimals."""
    v = np.array([300 / 29.97, 300 / 29.97 + 1e-9, 300 / 29.97 - 1e-9, 300 / 29.97])
    labels = np.array(["REAL", "FAKE", "FAKE", "FAKE"], dtype=object)
    for opts in ({"bins": 30}, {"bins": 30, "log": True}):
        h = histogram_by(v, labels, **opts)
        assert len(h["edges"]) == 2 and h["counts"] == {"REAL": [1], "FAKE": [3]}
        assert (h["edges"][0] + h["edges"][1]) / 2 == pytest.approx(10.01, abs=1e-4)


# --------------------------------------------------------------------------------------- nothing decoded

@pytest.fixture(scope="module")
def undecodable_work(synth_corpus, tmp_path_factory) -> Path:
    """A real ingest of a part in which no video decodes: empty, text and truncated mp4 files."""
    root = tmp_path_factory.mktemp("broken")
    part = root / "dfdc_train_part_0"
    part.mkdir()
    real_mp4 = sorted((synth_corpus / "dfdc_train_part_0").glob("*.mp4"))[0]
    (part / "empty.mp4").write_bytes(b"")
    (part / "text.mp4").write_text("not a video\n")
    (part / "cut.mp4").write_bytes(real_mp4.read_bytes()[:3000])
    (part / "metadata.json").write_text(json.dumps({
        "empty.mp4": {"label": "REAL", "split": "train"},
        "cut.mp4": {"label": "REAL", "split": "train"},
        "text.mp4": {"label": "FAKE", "split": "train", "original": "empty.mp4"}}))
    work = root / "work"
    res = subprocess.run([sys.executable, "-m", "dfprep.cli", "ingest", str(root), "--out", str(work), "--frames",
                          "2", "--num-cpus", "2", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return work


def _alarms(html: str) -> list[str]:
    return re.findall(r'<div class="alarm"[^>]*>(.*?)</div>', html, re.S)


def test_no_video_decoded_is_an_alarm_on_the_page(undecodable_work, tmp_path):
    from dfprep.analysis.cli import analyze_command
    import typer

    app = typer.Typer()
    app.command()(analyze_command)
    res = CliRunner().invoke(app, [str(undecodable_work), "--out", str(tmp_path / "r"), "--no-progress"])
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["totals"]["ok"] == 0 and stats["totals"]["videos"] == 3
    html = (tmp_path / "r" / "index.html").read_text()
    alarms = _alarms(html)
    assert len(alarms) == 1 and "No video decoded: 0 of 3 videos" in alarms[0]
    assert html.index('class="alarm"') < html.index("<section")              # above every section
    card = re.search(r'<div class="card([^"]*)"><div class="v">0</div><div class="k">decoded ok</div>', html)
    assert card and "alarm" in card.group(1)
    assert "alarm" in res.output and "No video decoded" in res.output
    # the reasons are in the health section it points to
    assert {g["status"] for g in stats["health"]["errors"]} == {"error"}


def test_a_healthy_work_raises_no_alarm(ingest_work, tmp_path):
    analyze(ingest_work, out=tmp_path / "r", augment_preview=False)
    html = (tmp_path / "r" / "index.html").read_text()
    assert _alarms(html) == [] and 'class="card alarm"' not in html

"""Figures drawn from stats.json alone (histograms and counts already computed), so figure and numbers agree.

Uses matplotlib's object API with the Agg canvas: no global backend switch, no display needed. Each `fig_*`
returns its Figure (tests read back what was drawn); `make_figures` turns them into PNG bytes.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

COLORS = {"REAL": "#2f6db5", "FAKE": "#c8473d", "none": "#8a8f98", "all": "#55606e",
          "crops": "#7a4fb5", "frames": "#3a9a78"}
ORDER = ("REAL", "FAKE", "none", "crops", "frames")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _new(ncols: int = 1, nrows: int = 1, w: float = 5.2, h: float = 3.2) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(w * ncols, h * nrows))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.3)
    return fig, axes


def legend_outside(ax, reverse: bool = False) -> None:
    """The legend right of the axes, never over the data: over stacked bars an inside legend sits on the bars,
    and a swatch on a bar of its own colour vanishes (FAKE on the FAKE segment)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if reverse:                                  # stacked: top segment first, as the eye reads the stack
        handles, labels = handles[::-1], labels[::-1]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8,
              frameon=False)


def constant_value(hist: dict) -> float | None:
    """The value of a histogram that stats.json records as constant (one bin, [v - 0.5, v + 0.5]), else None."""
    edges = hist.get("edges") or []
    if len(edges) != 2 or not any(sum(c) for c in hist.get("counts", {}).values()):
        return None
    return round((edges[0] + edges[1]) / 2, 4)


def hist_panel(ax, hist: dict, title: str, xlabel: str, log_x: bool = False, density: bool = True) -> None:
    """Step histograms per label on shared edges; normalized so REAL and FAKE compare despite the imbalance.

    A constant column (every video 10 s, say) is one bar per label at the value, not a box over an invented
    range."""
    edges = np.asarray(hist.get("edges") or [], dtype=float)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    if edges.size < 2:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#888")
        return
    ax.set_ylabel("share" if density else "count", fontsize=9)
    value = constant_value(hist)
    if value is not None:
        _constant_bars(ax, hist, value, density)
    else:
        for lab in ORDER:
            counts = hist["counts"].get(lab)
            if not counts or sum(counts) == 0:
                continue
            c = np.asarray(counts, float)
            y = c / c.sum() if density else c
            ax.stairs(y, edges, color=COLORS.get(lab), alpha=0.15, fill=True)
            ax.stairs(y, edges, label=f"{lab} (n={int(c.sum())})", color=COLORS.get(lab), linewidth=1.6)
        if log_x:
            ax.set_xscale("log")
    legend_outside(ax)


def _constant_bars(ax, hist: dict, value: float, density: bool) -> None:
    """One bar per label side by side over a single tick at the value (the x axis is categorical here)."""
    present = [lab for lab in ORDER if sum(hist["counts"].get(lab) or [0])]
    width = 0.6 / len(present)
    for i, lab in enumerate(present):
        n = sum(hist["counts"][lab])
        ax.bar(-0.3 + width * (i + 0.5), 1.0 if density else n, width, color=COLORS.get(lab),
               label=f"{lab} (n={n})")
    ax.set_xticks([0], [f"{value:g}"])
    ax.set_xlim(-1, 1)
    ax.set_xlabel(f"{ax.get_xlabel()}: every value {value:g}", fontsize=9)


def bars_panel(ax, counts: dict, title: str, ylabel: str, labels: tuple[str, ...] = ("REAL", "FAKE", "none"),
               stacked: bool = True, rotate: bool = False) -> None:
    """{category: {label: n}} as grouped or stacked bars; counts on an integer y axis named by `ylabel`."""
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    cats = list(counts)
    if not cats:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#888")
        return
    x = np.arange(len(cats))
    present = [lab for lab in labels if any(counts[c].get(lab) for c in cats)]
    bottom = np.zeros(len(cats))
    width = 0.8 if stacked else 0.8 / max(1, len(present))
    for i, lab in enumerate(present):
        y = np.array([counts[c].get(lab, 0) for c in cats], float)
        pos = x if stacked else x - 0.4 + width * (i + 0.5)
        ax.bar(pos, y, width, bottom=bottom if stacked else None, label=lab, color=COLORS.get(lab))
        if stacked:
            bottom += y
    ax.set_xticks(x, cats, rotation=45 if rotate or len(cats) > 6 else 0,
                  ha="right" if rotate or len(cats) > 6 else "center", fontsize=8)
    legend_outside(ax, reverse=stacked)


def fig_labels(s: dict) -> Figure:
    fig, (a, b) = _new(2)
    lab = s["labels"]
    bars_panel(a, {f"part {k}": v for k, v in lab["per_part"].items()}, "Videos per part", "videos")
    dist = lab["families"]["fakes_per_original_counts"]
    b.bar([int(k) for k in dist], list(dist.values()), color=COLORS["REAL"])
    b.set_title("Fakes per original", fontsize=10)
    b.set_xlabel("fakes made from one REAL video", fontsize=9)
    b.set_ylabel("originals", fontsize=9)
    for axis in (b.xaxis, b.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def fig_lengths(s: dict) -> Figure:
    num = s["lengths"]["numeric"]
    fig, axes = _new(2, 2)
    for ax, col in zip(axes, ("duration_s", "n_frames", "fps", "bytes")):
        hist_panel(ax, num[col]["histogram"], num[col]["title"], num[col]["title"], log_x=col == "bytes")
    fig.tight_layout()
    return fig


def fig_formats(s: dict) -> Figure:
    cat = s["lengths"]["categorical"]
    fig, axes = _new(2, 2)
    for ax, col in zip(axes, ("resolution", "orientation", "codec", "has_audio")):
        bars_panel(ax, {k: v for k, v in cat[col]["counts"].items()}, cat[col]["title"], "videos", stacked=False)
    fig.tight_layout()
    return fig


def fig_health(s: dict) -> Figure:
    fig, (ax,) = _new(1, w=6, h=2.6)
    by = s["videos_by_label_status"]
    statuses = sorted({st for v in by.values() for st in v})
    bars_panel(ax, {st: {lab: by[lab].get(st, 0) for lab in by} for st in statuses}, "Videos by status and label",
               "videos")
    return fig


def fig_faces(s: dict) -> Figure:
    f = s["faces"]
    fig, axes = _new(2, 2)
    bars_panel(axes[0], f["faces_per_frame"], "Faces per sampled frame", "frames", stacked=False)
    bars_panel(axes[1], f["tracks_per_video"], "Face tracks per video", "videos", stacked=False)
    hist_panel(axes[2], f["face_size_px"]["histogram"], "Face size", "longest box side (px)")
    hist_panel(axes[3], f["confidence"]["histogram"], "Detector confidence", "probability")
    fig.tight_layout()
    return fig


def fig_consecutive(s: dict) -> Figure:
    sim = s["similarity"]
    fig, axes = _new(2)
    hist_panel(axes[0], sim["frames_consecutive"]["histogram"], "Whole frames: consecutive samples",
               "mean phash distance per video (bits)")
    hist_panel(axes[1], sim["crops_consecutive"]["histogram"], "Face crops: consecutive samples",
               "mean phash distance per video (bits)")
    fig.tight_layout()
    return fig


def fig_fake_vs_original(s: dict) -> Figure:
    fig, (ax,) = _new(1, w=7)
    hist_panel(ax, s["similarity"]["fake_vs_original"]["histogram"],
               "Fake vs its original at the same frame", "mean phash distance per fake (bits)")
    return fig


def _literal(name: str) -> str:
    """A dataset or method name (from user files: a manifest) drawn as written: `$` would start mathtext, which
    raises when the figure is saved unless what follows is valid TeX."""
    return name.replace("$", "\\$")


def fig_datasets(s: dict) -> Figure:
    """Videos per dataset, stacked by label; FAKEs per (dataset, method)."""
    fig, (a, b) = _new(2, w=6)
    bars_panel(a, {_literal(ds): {lab: g["labels"][lab] for lab in ("REAL", "FAKE")}
                   for ds, g in s["by_dataset"].items()},
               "Videos per dataset", "videos", rotate=len(s["by_dataset"]) > 3)
    methods = {_literal(f"{ds}/{m}" if len(s["by_method"]) > 1 else m): {"FAKE": g["videos"]}
               for ds, ms in s["by_method"].items() for m, g in ms.items()}
    bars_panel(b, methods, "FAKEs per method", "videos", rotate=True)
    fig.tight_layout()
    return fig


# name -> (needs these stats keys, drawer). The page shows them in this order, each under its section.
FIGURES: dict[str, tuple[tuple[str, ...], Callable[[dict], Figure]]] = {
    "datasets": (("by_dataset",), fig_datasets),
    "labels": (("labels",), fig_labels),
    "health": (("videos_by_label_status",), fig_health),
    "lengths": (("lengths",), fig_lengths),
    "formats": (("lengths",), fig_formats),
    "faces": (("faces",), fig_faces),
    "consecutive": (("similarity",), fig_consecutive),
    "fake_vs_original": (("similarity",), fig_fake_vs_original),
}


def make_figures(stats: dict) -> dict[str, bytes]:
    """PNG bytes for every figure whose stats are present (metadata-only reports have fewer)."""
    return {name: _png(draw(stats)) for name, (needs, draw) in FIGURES.items()
            if all(stats.get(k) for k in needs)}

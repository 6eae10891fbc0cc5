"""The report's sections, each rendered from its part of stats.json (plus figures and gallery images).

Nothing here computes a statistic: every number on the page is read from the stats dict that is also
written to stats.json.
"""
from __future__ import annotations

from dfprep.analysis.html import Markup, blocks, esc, fmt, img, label_span, names_list, table
from dfprep.analysis.summaries import NO_LABEL
from dfprep.dataset import LABELS

LABS = (*LABELS, NO_LABEL)
SUMMARY_COLS = ("count", "mean", "median", "min", "max", "p5", "p95")


def _fig(figs: dict, name: str, alt: str) -> str:
    return img("image/png", figs[name], alt) if name in figs else ""


def _summary_table(by_label: dict, first: str = "label", fmt_value=fmt) -> str:
    rows = []
    for lab in (*LABS, "all", "crops", "frames"):
        s = by_label.get(lab)
        if s and s.get("count"):
            rows.append([label_span(lab)] + [Markup(fmt_value(s[c])) if c != "count" else s[c] for c in SUMMARY_COLS])
    return table([first, *SUMMARY_COLS], rows, numeric=range(1, 8))


def _label_counts(d: dict, key_name: str) -> str:
    rows = [[k, v["REAL"], v["FAKE"], v["total"], Markup(fmt(v["fake_share"], pct=True)), v["fakes_per_real"]]
            for k, v in d.items()]
    return table([key_name, "REAL", "FAKE", "total", "FAKE share", "fakes per real"], rows, numeric=range(1, 6))


def _count_table(first: str, counts: dict) -> str:
    """{value: {label: n, 'all': n}} as a table with one column per label that occurs, then all."""
    labs = [k for k in LABS if any(v.get(k) for v in counts.values())]
    rows = [[k, *(v.get(lab, 0) for lab in labs), v.get("all", 0)] for k, v in counts.items()]
    return table([first, *labs, "all"], rows, numeric=range(1, len(labs) + 2))


def labels_section(s: dict, figs: dict) -> str:
    lab = s["labels"]
    fam = lab["families"]
    o = lab["overall"]
    out = [blocks([("Overall", _label_counts({"all parts": o}, "")),
                   ("Per part", _label_counts(lab["per_part"], "part")),
                   ("Per split", _label_counts(lab["per_split"], "split"))]),
           _fig(figs, "labels", "videos per part and fakes per original"),
           "<h3>Families</h3>",
           '<p class="note">A family is one REAL video and the FAKEs made from it (their <code>original</code>), '
           "within a part. Keep a family on one side of any train/validation split.</p>",
           table(["originals", "fakes with an original", "fakes per original: mean", "median", "min", "max"],
                 [[fam["originals"], fam["fakes_with_original"], fam["fakes_per_original"]["mean"],
                   fam["fakes_per_original"]["median"], fam["fakes_per_original"]["min"],
                   fam["fakes_per_original"]["max"]]], numeric=range(6)),
           "<h3>Largest families</h3>",
           table(["part", "original", "fakes", "original status"],
                 [[x["part"], x["original"], x["fakes"], x["original_status"]] for x in fam["largest"]],
                 numeric=(0, 2))]
    nf = fam["originals_without_fakes"]
    out.append(f"<h3>Originals with no fakes: {fmt(nf['count'])}</h3>")
    out.append(names_list([f"{x['part']}/{x['video']}" for x in nf["videos"]], nf["count"], "show originals"))
    for key, title, cols in (("fakes_original_missing", "Fakes whose original is missing",
                              ("part", "video", "original", "reason")),
                             ("fakes_original_unavailable", "Fakes whose original is listed but unusable",
                              ("part", "video", "original", "original_status"))):
        d = fam[key]
        cls = "warn" if d["count"] else "ok"
        out.append(f'<div class="{cls}"><b>{esc(title)}: {fmt(d["count"])}</b></div>')
        if d["videos"]:
            more = f" (first {len(d['videos']):,} of {d['count']:,})" if d["count"] > len(d["videos"]) else ""
            out.append(f"<details><summary>show{more}</summary>"
                       + table(cols, [[x[c] for c in cols] for x in d["videos"]], numeric=(0,)) + "</details>")
    return "".join(out)


def health_section(s: dict, figs: dict) -> str:
    h = s["health"]
    by = s["videos_by_label_status"]
    statuses = sorted({st for v in by.values() for st in v})
    rows = [[label_span(lab)] + [by[lab].get(st, 0) for st in statuses] + [sum(by[lab].values())] for lab in by]
    rows.append(["all"] + [h["by_status"].get(st, 0) for st in statuses] + [h["videos"]])
    out = [table(["label", *statuses, "total"], rows, numeric=range(1, len(statuses) + 2)),
           _fig(figs, "health", "videos by status and label")]
    for key, title in (("errors", "Errors and exclusions, by reason"), ("warnings", "Warnings, by reason")):
        groups = h[key]
        out.append(f"<h3>{title}</h3>")
        if not groups:
            out.append('<div class="ok">none</div>')
            continue
        trs = []
        for g in groups:
            names = "".join(f"<div>{esc(v['part'])}/{esc(v['video'])}: {esc(v['message'])}</div>"
                            for v in g["videos"])
            more = f" (first {len(g['videos']):,} of {g['count']:,})" if g["count"] > len(g["videos"]) else ""
            trs.append([g["status"], g["reason"], g["count"],
                        Markup(f"<details><summary>videos{more}</summary>{names}</details>")])
        out.append(table(["status", "reason", "videos", "which"], trs, numeric=(2,)))
    if h["problems"]:
        out.append(f"<h3>Part-level problems ({fmt(h['problems_count'])})</h3><ul>"
                   + "".join(f"<li>{esc(p)}</li>" for p in h["problems"]) + "</ul>")
    if h.get("decoders"):
        out.append("<h3>Decoder used</h3>" + table(["decoder", "videos"], list(h["decoders"].items()),
                                                   numeric=(1,)))
    return "".join(out)


def lengths_section(s: dict, figs: dict) -> str:
    ln = s["lengths"]
    out = [f'<p class="note">From the probe of {fmt(ln["probed_videos"])} videos; distributions are shown as '
           "shares within each label, so REAL and FAKE compare despite the imbalance.</p>"]
    rows = []
    for d in ln["numeric"].values():
        shown = [lab for lab in (*LABS, "all") if d["by_label"].get(lab, {}).get("count")]
        for i, lab in enumerate(shown):
            x = d["by_label"][lab]
            rows.append([Markup(f"<b>{esc(d['title'])}</b>") if i == 0 else "", label_span(lab),
                         *(x[c] for c in SUMMARY_COLS)])
    out.append(table(["", "label", *SUMMARY_COLS], rows, numeric=range(2, 9)))
    out.append(_fig(figs, "lengths", "length distributions by label"))
    out.append(blocks((d["title"], _count_table("value", d["counts"])) for d in ln["categorical"].values()))
    out.append(_fig(figs, "formats", "formats by label"))
    return "".join(out)


def faces_section(s: dict, figs: dict) -> str:
    f = s["faces"]
    sh = f["share_frames_with_face"]
    out = [blocks([
        ("Sampled frames with a face",
         table(["label", "videos", "sampled frames", "frames with a face", "share"],
               [[label_span(k), v["videos"], v["sampled_frames"], v["frames_with_face"],
                 Markup(fmt(v["share"], pct=True))] for k, v in sh.items()], numeric=range(1, 5))),
        ("Faces per sampled frame", _count_table("faces", f["faces_per_frame"])),
        ("Face tracks per video", _count_table("tracks", f["tracks_per_video"]))]),
        blocks([("Face size (longest box side, px)", _summary_table(f["face_size_px"]["by_label"])),
                ("Face size / frame's short side", _summary_table(f["face_size_rel"]["by_label"])),
                ("Detector confidence", _summary_table(f["confidence"]["by_label"]))]),
        _fig(figs, "faces", "face statistics")]
    nf = f["videos_without_face"]
    cls = "warn" if nf["count"] else "ok"
    per = ", ".join(f"{k} {fmt(v)}" for k, v in nf["by_label"].items())
    out.append(f'<div class="{cls}"><b>Decoded videos with no face: {fmt(nf["count"])}</b>'
               f'{" (" + esc(per) + ")" if per else ""}</div>')
    out.append(names_list([f"{x['part']}/{x['video']} ({x['label']})" for x in nf["videos"]], nf["count"],
                          "show videos"))
    if f["face_rows_without_video"]:
        out.append(f'<div class="warn">{fmt(f["face_rows_without_video"])} face rows name a video that is not an '
                   "ok row of videos.parquet</div>")
    return "".join(out)


def similarity_section(s: dict, figs: dict) -> str:
    sim = s["similarity"]
    out = ['<p class="note">Hamming distance between 64-bit perceptual hashes (imagehash.phash): 0 is the same '
           "hash, about 32 is unrelated. Consecutive: between a video's sampled frames in order (for crops, along "
           "one face track), averaged per video.</p>",
           blocks([("Whole frames, consecutive samples", _summary_table(sim["frames_consecutive"]["by_label"])),
                   ("Face crops, consecutive samples", _summary_table(sim["crops_consecutive"]["by_label"]))]),
           _fig(figs, "consecutive", "consecutive-sample distances")]
    fv = sim["fake_vs_original"]
    out += ["<h3>Each fake against its original, at the same frame</h3>",
            '<p class="note">Per fake, the mean distance to its original: whole frames (mostly unchanged by the '
            "manipulation) and face crops at the same frame and track (where the manipulation is). A fake whose "
            "crops barely differ may be an audio-only fake.</p>",
            table(["fakes with a decoded original", "fakes with matched crops", "crop pairs"],
                  [[fv["fakes_with_original"], fv["fakes_with_crop_pairs"], fv["crop_pairs"]]], numeric=range(3)),
            _summary_table(fv["by_kind"], first="compared"),
            _fig(figs, "fake_vs_original", "fake against original distances")]
    cols = ["part", "fake", "original", "crop pairs", "crop distance", "frame distance"]
    out.append(blocks((title, table(cols, [[x["part"], x["video"], x["original"], x["pairs"], x["crop_distance"],
                                            x["frame_distance"]] for x in fv[key]], numeric=(0, 3, 4, 5)))
                      for key, title in (("most_changed", "Most changed fakes (crops)"),
                                         ("least_changed", "Least changed fakes (crops)"))))
    dup = sim["cross_family_duplicates"]
    out.append("<h3>Identical crops across families (leakage check)</h3>")
    if not dup["hashes"]:
        out.append('<div class="ok">No face crop hash is shared by two different families.</div>')
    else:
        out.append(f'<div class="warn"><b>Leakage warning:</b> {fmt(dup["hashes"])} crop hashes are shared by '
                   f'different families ({fmt(dup["crops"])} crops in {fmt(dup["families"])} families). Such '
                   "crops can land on both sides of a family-aware split.</div>")
        rows = [[g["phash"], g["families"], g["crops"],
                 Markup("<br>".join(f"{esc(e['family'])}: {esc(e['video'])} frame {fmt(e['frame_idx'])} "
                                    f"track {fmt(e['track_id'])}" for e in g["examples"]))] for g in dup["groups"]]
        out.append(table(["phash", "families", "crops", "examples"], rows, numeric=(1, 2)))
    return "".join(out)


def _crop(item: dict, images: dict, extra: str = "") -> str:
    mime, data = images[item["image"]]
    cap = f"{esc(item['video'])} · f{fmt(item['frame_idx'])} t{fmt(item['track_id'])}{extra}"
    return (f'<figure class="crop {esc(item["label"])}">{img(mime, data, item["video"], cls="")}'
            f"<figcaption>{cap}</figcaption></figure>")


def gallery_section(s: dict, images: dict) -> str:
    g = s["gallery"]
    out = ['<p class="note">Crops as stored in faces.parquet (only these were read). Caption: video · frame '
           "index · track.</p>", "<h3>REAL beside FAKE</h3>"]
    for lab in ("REAL", "FAKE"):
        items = g["samples"].get(lab, [])
        out.append(f'<div class="row-label {lab}">{lab}</div><div class="grid">'
                   + ("".join(_crop(x, images) for x in items) or "<i>no crops</i>") + "</div>")
    out.append("<h3>Fake beside its original, same frame</h3>")
    if g["pairs"]:
        pairs = []
        for p in g["pairs"]:
            dist = f" · distance {fmt(p['distance'])}"
            pairs.append(f'<div class="pair">{_crop(p["fake"], images)}{_crop(p["original"], images, dist)}</div>')
        out.append('<div class="grid">' + "".join(pairs) + "</div>")
    else:
        out.append("<p><i>No fake has a decoded original with a face at the same frame.</i></p>")
    aug = g.get("augment")
    out.append("<h3>Augmentation preview (shard stage)</h3>")
    if not aug or not aug.get("available"):
        out.append(f'<div class="warn">{esc((aug or {}).get("reason", "not generated"))}</div>')
    else:
        out.append(f'<p class="note">dfprep.augment.augment_image on stored crops: first each op alone '
                   f'(p = 1), then the default pipeline ({esc(", ".join(aug["augments"]))}, each op with '
                   f'p = {fmt(aug["p"])}) under several seeds. Captions say what fired.</p>')
        for row in aug["rows"]:
            cells = [_crop(row["source"], images, " · source")]
            for o in row["outputs"]:
                mime, data = images[o["image"]]
                cap = esc("; ".join(o["applied"]) or "unchanged")
                cells.append(f'<figure class="crop">{img(mime, data, "augmented", cls="")}'
                             f"<figcaption>seed {fmt(o['seed'])}: {cap}</figcaption></figure>")
            out.append(f'<div class="row-label">{esc(row["kind"])}</div><div class="grid">{"".join(cells)}</div>')
    return "".join(out)


def _group_row(g: dict) -> list:
    """The cells of one dataset's or method's row in the Datasets tables (see `datasets.dataset_stats`)."""
    sp = g["splits"]
    faces = g.get("faces")
    res = next(iter(g["resolutions"]), "")
    fv = g["fake_vs_original"]
    return [g["labels"]["REAL"], g["labels"]["FAKE"], Markup(fmt(g["labels"]["fake_share"], pct=True)),
            g["status"].get("ok", 0),
            ", ".join(f"{k} {v['total']:,}" for k, v in sp.items()),
            ", ".join(f"{k} {v:,}" for k, v in g["compression"].items() if k != "none") or "",
            g["lengths"]["duration_s"]["median"], g["lengths"]["n_frames"]["median"],
            res + (f" (+{g['resolution_count'] - 1:,} more)" if g["resolution_count"] > 1 else ""),
            faces["faces_per_video"]["mean"] if faces else None,
            Markup(fmt(faces["no_face_rate"], pct=True)) if faces else None,
            fv["fakes_with_original"], fv["crop_distance"]["mean"], fv["frame_distance"]["mean"]]


GROUP_COLS = ("REAL", "FAKE", "FAKE share", "decoded ok", "official split", "compression", "duration s: median",
              "frames: median", "most common size", "faces per video: mean", "no-face rate",
              "fakes with an original", "crop distance: mean", "frame distance: mean")


def _wide(html: str) -> str:
    """A table wider than the section scrolls inside it instead of spilling over the page."""
    return f'<div class="wide">{html}</div>'


def datasets_section(s: dict, figs: dict) -> str:
    out = ['<p class="note">Each dataset of this WORK, and each manipulation method over its FAKEs. Split: the '
           "dataset's official split (none: the dataset has none, or this video is in none). Distances: mean "
           "phash distance of each FAKE to its original at the same frame (face crops; whole frames), averaged "
           "over the FAKEs; the Frame similarity section explains them.</p>",
           _wide(table(["dataset", "videos", *GROUP_COLS],
                       [[ds, g["videos"], *_group_row(g)] for ds, g in s["by_dataset"].items()],
                       numeric=(1, 2, 3, 4, 5, 8, 9, 11, 12, 13, 14, 15)))]
    out.append(_fig(figs, "datasets", "videos per dataset and label, and FAKEs per method"))
    if s.get("by_method"):
        out.append("<h3>By method (FAKEs only)</h3>")
        rows = [[ds, m, g["videos"], *_group_row(g)[3:]] for ds, ms in s["by_method"].items() for m, g in ms.items()]
        out.append(_wide(table(["dataset", "method", "FAKEs", *GROUP_COLS[3:]], rows,
                               numeric=(2, 3, 6, 7, 9, 10, 11, 12, 13))))
    return "".join(out)


def _named_identities(d: dict) -> str:
    named = d.get("named")
    if not named:
        return ""
    out = ["<h3>Identities the datasets name</h3>",
           '<p class="note">From the <code>identity</code> column (the person or source video a layout names, '
           "e.g. FF++'s <code>conversion_dict.json</code>). An identity whose videos sit in more than one "
           "official split leaks that person across the split; <code>dfprep shards --group identity</code> keeps "
           "each in one.</p>",
           table(["dataset", "identities", "videos naming one", "spanning official splits", "by splits"],
                 [[ds, x["identities"], x["videos_with_identity"], x["spanning_splits"],
                   ", ".join(f"{k}: {v:,}" for k, v in x["by_splits"].items())]
                  for ds, x in named["by_dataset"].items()], numeric=(1, 2, 3))]
    for ds, x in named["by_dataset"].items():
        out.append(_spanning_block(f"{ds}: {fmt(x['spanning_splits'])} named identities span official splits",
                                   x, ["identity", "splits"], lambda e: [e["identity"], ", ".join(e["splits"])]))
    a = named.get("across_datasets")
    if a:
        out.append("<h3>Identities named by several datasets</h3>")
        out.append(table(["datasets", "identities"], list(a["by_datasets"].items()), numeric=(1,)))
        out.append(_spanning_block(f"{fmt(a['shared'])} identities are named by more than one dataset; "
                                   f"{fmt(a['spanning_splits'])} of them sit in more than one official split "
                                   "over those datasets", a, ["identity", "datasets", "splits"],
                                   lambda e: [e["identity"], ", ".join(e["datasets"]), ", ".join(e["splits"])]))
    return "".join(out)


def _spanning_block(line: str, x: dict, cols: list[str], row) -> str:
    n = x["spanning_splits"]
    out = f'<div class="{"warn" if n else "ok"}"><b>{esc(line)}</b></div>'
    return out + (table(cols, [row(e) for e in x["examples"]]) if x["examples"] else "")


def identity_section(s: dict, figs: dict) -> str:
    d = s["identity"]
    if not d.get("available"):
        return f'<div class="note">{esc(d.get("note", "no identity embeddings"))}</div>' + _named_identities(d)
    out = [f'<p class="note">One 128-d face embedding per track (dlib ResNet); a cluster is a connected component '
           f'of tracks within distance {fmt(d["threshold"])} of each other: one person, across every video and family '
           "they appear in. A family split still puts such a person in two splits; "
           "<code>dfprep shards --group identity</code> keeps each cluster's families in one.</p>",
           table(["tracks with an embedding", "videos", "clusters", "single-video clusters",
                  "clusters spanning families"],
                 [[d["tracks_with_embedding"], d["videos_with_embedding"], d["clusters"],
                   d["single_video_clusters"], d["multi_family_clusters"]]], numeric=range(5)),
           "<h3>Cluster sizes</h3>",
           table(["per cluster", *SUMMARY_COLS],
                 [[name, *(d[key][c] for c in SUMMARY_COLS)] for name, key in
                  (("videos", "videos_per_cluster"), ("families", "families_per_cluster"))], numeric=range(1, 8)),
           table(["videos in the cluster", "clusters"], list(d["videos_per_cluster_counts"].items()), numeric=(1,)),
           "<h3>Largest clusters</h3>",
           table(["cluster", "tracks", "videos", "families", "REAL", "FAKE", "videos (first)"],
                 [[c["cluster"], c["tracks"], c["videos"], c["families"], c["REAL"], c["FAKE"],
                   ", ".join(c["examples"])] for c in d["largest"]], numeric=range(1, 6))]
    leak = d.get("leakage")
    if leak is not None:
        n = leak["leaking_clusters"]
        out.append(f"<h3>Identity leakage in {esc(leak['shards'])}</h3>")
        out.append(f'<div class="{"warn" if n else "ok"}"><b>{fmt(n)} of {fmt(leak["clusters_in_shards"])} '
                   f"clusters have videos in more than one split</b> ({fmt(leak['videos_in_leaking_clusters'])} "
                   "videos)</div>")
        if n:
            out.append(table(["splits", "clusters"], list(leak["by_split_pair"].items()), numeric=(1,)))
            out.append(table(["cluster", "videos", "families", "videos per split"],
                             [[c["cluster"], c["videos"], c["families"],
                               ", ".join(f"{k}: {v}" for k, v in c["splits"].items())] for c in leak["examples"]],
                             numeric=(1, 2)))
    out.append(_named_identities(d))
    return "".join(out)

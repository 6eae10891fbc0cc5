"""Plain core of ingest for one video: probe, sampled decode, faces. No Ray here; the Ray layer calls it."""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from dfprep.dataset import Status, VideoEntry
from dfprep.faces.params import FrameFaces
from dfprep.formats.work.faces import empty_faces, faces_table
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.decode import decode_sampled, sample_indices
from dfprep.ingest.image import decode_image, is_image, probe_image
from dfprep.ingest.inputs import head_tail_sha256
from dfprep.formats.work.videos import HASH, video_row
from dfprep.ingest.probe import VideoError, probe
from dfprep.ingest.timeline import StageClock, maybe_stage
from dfprep.storage import StorageError, as_path, is_remote, local_copy

DetectFn = Callable[[np.ndarray], list]
# (full-resolution frames, faces per frame) -> {track_id: (representative row, embedding)}; see
# dfprep.faces.identity.track_embeddings (an IdentityEncoder is such a callable).
EmbedFn = Callable[[np.ndarray, list], dict]


def _listed_size(entry: VideoEntry) -> int | None:
    if entry.size is not None:                          # from a remote listing
        return entry.size
    path = entry.path
    return os.path.getsize(path) if path and os.path.exists(path) else None


def process_video(entry: VideoEntry, cfg: IngestConfig, detect: DetectFn | None = None,
                  original_faces: list[FrameFaces] | None = None, clock: StageClock | None = None,
                  embed: EmbedFn | None = None) -> tuple[dict, pa.Table, list[FrameFaces]]:
    """One manifest entry -> (videos.parquet row, faces rows, faces per sampled frame).

    A video that cannot be used gives status=error with the reason; it never raises VideoError.
    `original_faces` (with cfg.boxes_from_original) replaces detection by the original's boxes.
    `clock`, if given, records each stage's wall interval and CPU seconds.
    `embed`, if given, computes each track's identity embedding on the full-resolution frames (stage
    `identity`, after the crops); without it the `embedding` column is null (predict, explain).
    """
    if entry.status is Status.UNLISTED:
        return video_row(entry, bytes=_listed_size(entry)), empty_faces(), []
    if entry.status is not Status.PENDING:
        return video_row(entry), empty_faces(), []
    info = {}
    where = None
    try:
        with ExitStack() as spooled:
            source = as_path(entry.path)     # a remote video is copied to the spool; a local one used as is
            with maybe_stage(clock if is_remote(source) else None, "fetch"):
                path = spooled.enter_context(local_copy(source))
                where = path
            with maybe_stage(clock, "probe"):
                size, digest = head_tail_sha256(path)     # the bytes decoded are the bytes hashed
                info = {"bytes": size, HASH: digest}
                image = is_image(entry.path)
                pr = probe_image(path, cfg.max_pixels) if image else probe(path, cfg.max_pixels)
            info.update(pr.as_row())
            if image:
                info["fps"] = info["duration_s"] = None     # a still has neither
            idx = sample_indices(pr.n_frames, cfg.frames)
            with maybe_stage(clock, "decode"):
                frames, used = ((decode_image(path), "pil") if image else
                                decode_sampled(path, idx, cfg.decoder, cfg.decode_threads, pr.rotation))
        info["decoder"] = used
        info["sampled_frames"] = idx.tolist()
    except StorageError:
        raise                                   # the store failed, not the video: the run stops, the video stays todo
    except VideoError as exc:
        return video_row(entry, status=Status.ERROR, error=_named(str(exc), where, entry), **info), empty_faces(), []
    except OSError as exc:
        return video_row(entry, status=Status.ERROR, error=_named(f"cannot read file ({exc.strerror or exc})", where,
                                                             entry), **info), empty_faces(), []
    if not cfg.faces:
        return video_row(entry, status=Status.OK, **info), empty_faces(), []
    from dfprep.faces.extract import crop_faces, detect_faces, faces_summary  # torch: only where faces are cut

    p = cfg.face_params()
    if original_faces is not None and len(original_faces) == len(idx):
        from dfprep.faces.geometry import det_scale, detection_copies

        faces = original_faces
        small = detection_copies(frames, det_scale(frames.shape[1], frames.shape[2], p.det_size))
    else:
        if detect is None:
            raise ValueError("cfg.faces is set but no detect function was given")
        with maybe_stage(clock, "detect"):
            faces, small = detect_faces(frames, detect, p)
    meta = dict(dataset=entry.dataset, video=entry.video, part=entry.part, label=entry.label,
                original=entry.original, method=entry.method)
    with maybe_stage(clock, "crop"):
        cols, frame_hashes = crop_faces(frames, small, idx, faces, p, meta)
    if embed is not None and cols["video"]:
        from dfprep.faces.extract import embedding_column

        with maybe_stage(clock, "identity"):
            cols["embedding"] = embedding_column(len(cols["video"]), embed(frames, faces))
    s = faces_summary(faces)
    row = video_row(entry, status=Status.OK, frame_phash=frame_hashes, n_faces=s["n_faces"],
                    frames_with_face=s["frames_with_face"], n_tracks=s["n_tracks"],
                    mean_face_prob=s["mean_prob"], **info)
    return row, faces_table(cols), faces


def _named(message: str, spooled: Path | None, entry: VideoEntry) -> str:
    """An error message that names the video as given (its URI), not the spool copy it was decoded from."""
    if spooled is None or str(spooled) == entry.path:
        return message
    return message.replace(str(spooled), entry.path)

"""`dfprep explain`: Grad-CAM heatmaps of the FAKE logit over face crops, saved as PNG overlays.

Grad-CAM (captum's `LayerGradCam`) weighs the last conv block's feature maps (`models.gradcam_layer`) by the
spatial mean of the FAKE logit's gradient, sums them and keeps the positive part: where evidence for FAKE is.
Each map is upsampled bilinearly to the crop (`LayerAttribution.interpolate`), divided by its own maximum and
laid over the crop with a matplotlib colormap. A map that is zero everywhere means no region pushed the model
towards FAKE; index.json keeps every map's raw maximum so such maps are told apart from weak ones.

A frame model explains each crop on its own. A clip (temporal) model explains each clip through its encoder:
the heatmap of a frame is the Grad-CAM of that frame's feature maps for the clip's logit, so it needs a video
(an image alone is refused).
"""
from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from dfprep.dataset import DEFAULT_CLIP_LEN
from dfprep.atomic import write_bytes, write_json
from dfprep.errors import DataError, UsageError
from dfprep.storage import StorageError, as_path
from dfprep.formats.run import RunConfig

IMAGE_EXTS = {".jpg", ".jpeg", ".png"}
COLORMAP = "jet"
ALPHA = 0.45


class ExplainError(UsageError, ValueError):
    """Unusable input: the message names the file and the reason."""


class ExplainDataError(DataError, ExplainError):
    """Bad data in the input (an image over the pixel budget): `dfprep explain` exits 1, not 2."""


@dataclass(frozen=True)
class ExplainedCrop:
    """One PNG overlay written: its file name in OUT, where the crop came from, the model's P(FAKE), the map's
    maximum before scaling, the clip it belongs to (clip models; else None), the crop's size."""
    file: str
    frame_idx: int
    track_id: int
    prob_fake: float
    cam_max: float
    clip: int | None
    width: int
    height: int


@dataclass(frozen=True)
class ExplainIndex:
    """What `explain()` returns and `dfprep explain` prints: OUT/index.json's document (`as_json()`, the same
    keys in the same order as before it was typed). `crop`: the crop settings a video was cut with (None for an
    image)."""
    source: str
    run: str
    model: str
    unit: str
    layer: str
    input_size: int
    crop: dict | None
    warnings: list
    method: str
    colormap: str
    alpha: float
    items: list             # [ExplainedCrop]

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class Explanation:
    """One crop's heatmap: cam is [H,W] in [0,1] at the crop's size; cam_max the map's maximum before scaling."""
    frame_idx: int
    track_id: int
    prob: float                 # P(FAKE) of the crop (frame model) or of its clip (clip model)
    crop: np.ndarray            # uint8 [H,W,3]
    cam: np.ndarray             # float32 [H,W]
    cam_max: float
    clip: int | None = None     # index of the clip within the video (clip models)


def gradcam_maps(model: nn.Module, cfg: RunConfig, crops: torch.Tensor,
                 device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grad-CAM of uint8 crops [N,3,H,W] (one clip [T,3,H,W] for a clip model).

    Returns (maps [N,H,W] float32 in [0,1], raw maxima [N], P(FAKE) [N]; a clip's probability is repeated).
    """
    from captum.attr import LayerAttribution, LayerGradCam

    from dfprep.train.data import to_input
    from dfprep.train.models import gradcam_layer

    clip = cfg.unit == "clip"
    h, w = crops.shape[-2:]
    x = to_input(crops.to(device), cfg.input_size)
    if clip:
        x = x.unsqueeze(0)                                  # [1,T,3,S,S]: the encoder sees T frames
    model.eval()
    # cuDNN's RNN has no backward in eval mode; the plain kernels give the same result.
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled and not clip):
        attr = LayerGradCam(model, gradcam_layer(model)).attribute(x, relu_attributions=True)   # [N,1,h',w']
        attr = LayerAttribution.interpolate(attr.detach(), (int(h), int(w)), interpolate_mode="bilinear")
        with torch.no_grad():
            probs = torch.sigmoid(model(x).float()).reshape(-1)
    maps = attr[:, 0].float().clamp_min(0).cpu().numpy()
    maxima = maps.reshape(len(maps), -1).max(axis=1)
    maps = maps / np.where(maxima > 0, maxima, 1.0)[:, None, None]
    probs = probs.cpu().numpy().astype(np.float64)
    if clip:
        probs = np.repeat(probs, len(maps))
    return maps.astype(np.float32), maxima.astype(np.float64), probs


def overlay(crop: np.ndarray, cam: np.ndarray, colormap: str = COLORMAP, alpha: float = ALPHA) -> Image.Image:
    """The crop with the heatmap blended over it through a matplotlib colormap; same size as the crop."""
    from matplotlib import colormaps

    heat = colormaps[colormap](np.clip(cam, 0.0, 1.0))[..., :3] * 255.0
    out = (1.0 - alpha) * crop.astype(np.float32) + alpha * heat
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def read_image(path: Path, max_pixels: int | None = None) -> torch.Tensor:
    """A face-crop image file -> uint8 [3,H,W] RGB. Width x height is read from the header first: an image over
    `max_pixels` (default `dfprep.imagesize.MAX_IMAGE_PIXELS`) is refused (ExplainDataError), never decoded."""
    from dfprep.imagesize import MAX_IMAGE_PIXELS, ImageTooLarge, check_pixels


    try:
        data = path.read_bytes()
        check_pixels(data, max_pixels or MAX_IMAGE_PIXELS)      # from the header (JPEG parsed, else PIL's)
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB"))
    except ImageTooLarge as exc:
        raise ExplainDataError(f"{path}: {exc} (raise it with --max-image-pixels)") from None
    except StorageError:
        raise
    except (OSError, ValueError) as exc:
        raise ExplainError(f"{path}: cannot read the image ({exc})") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def explain_crops(model: nn.Module, cfg: RunConfig, crops: torch.Tensor, frame_idx: list[int], track_ids: list[int],
                  device: str | torch.device = "cpu", batch: int = 16, clip: int | None = None) -> list[Explanation]:
    """Explanations of crops [N,3,H,W] (a frame model, in batches) or of one clip (a clip model)."""
    if cfg.unit == "clip":
        chunks = [range(len(crops))]
    else:
        chunks = [range(s, min(s + batch, len(crops))) for s in range(0, len(crops), batch)]
    out = []
    for idx in chunks:
        sel = crops[list(idx)]
        maps, maxima, probs = gradcam_maps(model, cfg, sel, device)
        for k, i in enumerate(idx):
            out.append(Explanation(int(frame_idx[i]), int(track_ids[i]), float(probs[k]),
                                   sel[k].permute(1, 2, 0).cpu().numpy(), maps[k], float(maxima[k]), clip))
    return out


def explain_video(model: nn.Module, cfg: RunConfig, path: Path, frames: int = 4, crop: dict | None = None,
                  device: str | torch.device = "cpu") -> list[Explanation]:
    """Sample frames, find and crop faces as ingest does, explain every crop (frame model) or every clip of
    clip_len consecutive crops of a track (clip model; at least clip_len frames are then sampled).

    `crop`: the crop settings (`dfprep.inference.predict.crop_settings`, the run's; None: ingest's defaults).
    `frames` is a sampling choice and does not change a frame's crops."""
    from dfprep.dataset import Status, file_entry
    from dfprep.ingest.video import process_video
    from dfprep.inference.predict import crop_detector, decode_crops, ingest_config, model_units

    clip = cfg.unit == "clip"
    clip_len = cfg.clip_len or DEFAULT_CLIP_LEN
    icfg = ingest_config(max(frames, clip_len) if clip else frames, crop)
    row, faces, _ = process_video(file_entry(as_path(path)), icfg, crop_detector(icfg, device).detect)
    if row["status"] != Status.OK:
        raise ExplainError(f"{path}: cannot be used ({row.get('error') or row['status']})")
    if faces.num_rows == 0:
        raise ExplainError(f"{path}: no face found in {len(row.get('sampled_frames') or [])} sampled frames")
    fidx = faces.column("frame_idx").to_pylist()
    tids = faces.column("track_id").to_pylist()
    jpegs = faces.column("jpeg").to_pylist()
    out: list[Explanation] = []
    if not clip:
        return explain_crops(model, cfg, decode_crops(jpegs), fidx, tids, device)
    for c, rows in enumerate(model_units(faces, "clip", clip_len)):
        out += explain_crops(model, cfg, decode_crops([jpegs[i] for i in rows]), [fidx[i] for i in rows],
                             [tids[i] for i in rows], device, clip=c)
    return out


def safe_stem(path: Path) -> str:
    """The file's stem with anything but letters, digits, '-', '_' and '.' replaced, for output names."""
    return re.sub(r"[^\w.-]", "_", as_path(path).stem) or "input"


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def explain(run: Path, path: Path, out: Path, frames: int = 4, det_size: int | None = None,
            device: str | None = None, detector: str | None = None, colormap: str = COLORMAP,
            crop: dict | None = None, max_image_pixels: int | None = None) -> ExplainIndex:
    """Write OUT/<stem>_f<frame>_t<track>.png for every explained crop and OUT/index.json; return the index.

    A video's crops are cut with the run's crop settings, as predict cuts them (`crop_settings`); `det_size`,
    `detector` and `crop` ({setting: value}) are settings the user forces, each refused (ExplainError) when it
    differs from the run's. `max_image_pixels`: the pixel budget of an image input (default
    `dfprep.imagesize.MAX_IMAGE_PIXELS`), checked from its header before it is decoded. RUN, the input and OUT may
    be remote (dfprep.storage): a video is spooled while it is decoded, each PNG and then index.json uploaded
    whole; a store that fails raises StorageError."""
    from dfprep.device import pick_device
    from dfprep.train.checkpoint import load_model
    from dfprep.train.models import gradcam_layer
    from dfprep.inference.predict import crop_settings, read_run

    path, out = as_path(path), as_path(out)
    if not path.is_file():
        raise ExplainError(f"{path}: not found (expected a face-crop image or a video)")
    from dfprep.inference.config import ExplainConfig
    from dfprep.options import check_declared

    check_declared(ExplainConfig(frames=frames, max_image_pixels=max_image_pixels), ExplainError)   # their bounds
    from matplotlib import colormaps

    if colormap not in colormaps:
        raise ExplainError(f"unknown matplotlib colormap {colormap!r} (e.g. jet, viridis, inferno)")
    run_cfg = read_run(run)     # its refusals (TrainUsageError, PredictError) are usage errors as they are
    settings, warning = crop_settings(run_cfg, {**(crop or {}), "det_size": det_size, "detector": detector})
    device = pick_device(device)
    model, cfg = load_model(run, device, run_cfg)
    clip = cfg.unit == "clip"
    image = path.suffix.lower() in IMAGE_EXTS
    if image:
        if clip:
            raise ExplainError(f"{path}: RUN {run} holds a clip (temporal) model, which explains clips of a "
                               "video's face track; give it a video, not an image")
        items = explain_crops(model, cfg, read_image(path, max_image_pixels)[None], [0], [0], device)
    else:
        items = explain_video(model, cfg, path, frames, settings, device)
    stem = safe_stem(path)
    rows = []
    for e in items:
        name = f"{stem}_f{e.frame_idx}_t{e.track_id}.png"
        write_bytes(out / name, png_bytes(overlay(e.crop, e.cam, colormap)))
        rows.append(ExplainedCrop(file=name, frame_idx=e.frame_idx, track_id=e.track_id, prob_fake=e.prob,
                                  cam_max=e.cam_max, clip=e.clip, width=int(e.crop.shape[1]),
                                  height=int(e.crop.shape[0])))
    index = ExplainIndex(source=str(path), run=str(run), model=cfg.model, unit=cfg.unit,
                         layer=type(gradcam_layer(model)).__name__, input_size=cfg.input_size,
                         crop=None if image else settings, warnings=[warning] if warning and not image else [],
                         method="Grad-CAM (captum LayerGradCam) of the FAKE logit, positive part, bilinear "
                                "upsampling, each map divided by its maximum",
                         colormap=colormap, alpha=ALPHA, items=rows)
    write_json(out / "index.json", index.as_json())       # last: it names every PNG above
    return index

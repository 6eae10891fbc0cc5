"""Face identity embeddings: dlib's 128-d face recognition ResNet, one vector per face track.

Plain core (numpy in, numpy out). The models ship offline in the `face-recognition-models` package (dlib's
5-point shape predictor and `dlib_face_recognition_resnet_model_v1`, CC0); nothing is downloaded at run time.
An `IdentityEncoder` loads them once per process (a worker builds one and keeps it).

Distances are Euclidean. `DEFAULT_IDENTITY_THRESHOLD` = 0.6 is dlib's own same-person threshold: the model
was trained so that two faces of one person are closer than 0.6, with 99.38% accuracy on the LFW benchmark
(http://dlib.net/face_recognition.py.html). Pairs of one person typically sit at 0.2-0.5, of two people at
0.7-1.0.
"""
from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path

import numpy as np

from dfprep.errors import UsageError
from dfprep.faces.params import FrameFaces

EMBEDDING_DIM = 128
DEFAULT_IDENTITY_THRESHOLD = 0.6
DEFAULT_K = 3
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


class IdentityModelsMissing(UsageError, RuntimeError):
    """The face-recognition-models package (dlib's model files) is not installed."""


def model_path(name: str) -> Path:
    """A model file of `face_recognition_models`, found without importing the package.

    Its `__init__` imports `pkg_resources`, which recent setuptools no longer ships; the files sit in the
    package folder, which `find_spec` locates without running that code.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise IdentityModelsMissing("face identity embeddings need the face-recognition-models package "
                                    "(pip install face-recognition-models==0.3.0), or use --no-identity")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise IdentityModelsMissing(f"{path}: model file missing from the face-recognition-models package")
    return path


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings (same person below DEFAULT_IDENTITY_THRESHOLD)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


class IdentityEncoder:
    """dlib's 5-point shape predictor + face recognition ResNet (CPU), loaded once.

    `encoder(frames, faces)` is `track_embeddings` with this encoder's models (the `embed` callable that
    `process_video` takes). dlib's network keeps its activations in the object, so calls are serialised by a
    lock (a worker holding two videos at once calls it from two threads).
    """

    def __init__(self, k: int = DEFAULT_K) -> None:
        import dlib

        self.shape = dlib.shape_predictor(str(model_path(SHAPE_MODEL)))
        self.net = dlib.face_recognition_model_v1(str(model_path(RECOGNITION_MODEL)))
        self.k = k
        self.lock = threading.Lock()

    def descriptor(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """128-d descriptor of the face in `box` (x1, y1, x2, y2 source pixels) of a full-resolution RGB frame."""
        import dlib

        h, w = frame.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in box)
        rect = dlib.rectangle(int(round(max(0.0, x1))), int(round(max(0.0, y1))),
                              int(round(min(w - 1.0, x2))), int(round(min(h - 1.0, y2))))
        img = np.ascontiguousarray(frame, dtype=np.uint8)
        with self.lock:
            shape = self.shape(img, rect)
            return np.asarray(self.net.compute_face_descriptor(img, shape), np.float32)

    def __call__(self, frames: np.ndarray, faces: list[FrameFaces]) -> dict[int, tuple[int, np.ndarray]]:
        return track_embeddings(frames, faces, k=self.k, encoder=self)


@functools.lru_cache(maxsize=1)
def default_encoder() -> IdentityEncoder:
    """The process's encoder, built on first use."""
    return IdentityEncoder()


def track_embeddings(frames: np.ndarray, faces: list[FrameFaces], k: int = DEFAULT_K,
                     encoder: IdentityEncoder | None = None) -> dict[int, tuple[int, np.ndarray]]:
    """{track_id: (row of the track's representative face, float32 [128] embedding)} for every track.

    Rows count faces in frame order, then box order within a frame: the order of `crop_faces`' rows (and of
    one video's face-store rows before the batch sort). The representative row is the track's most confident
    face (ties: the earliest frame), which is where the face store keeps the embedding.

    Per track, the `k` most confident faces (ties: earliest frame first) are each described on the
    full-resolution RGB frame: a dlib rectangle from the source-pixel box, the 5-point shape in it, then
    `compute_face_descriptor(frame, shape)`. The embedding is the mean of those k descriptors: a single frame
    can catch a blink, motion blur or a half-turned head that moves its descriptor by 0.1-0.2, and averaging
    a few frames steadies it (dlib's own `num_jitters` averages jittered copies for the same reason).
    """
    encoder = encoder or default_encoder()
    per_track: dict[int, list[tuple[float, int, int, int]]] = {}   # track -> [(-prob, frame j, box i, row)]
    row = 0
    for j, ff in enumerate(faces):
        ids = ff.track_ids if ff.track_ids is not None else np.zeros(len(ff.boxes), np.int64)
        for i in range(len(ff.boxes)):
            per_track.setdefault(int(ids[i]), []).append((-float(ff.probs[i]), j, i, row))
            row += 1
    out: dict[int, tuple[int, np.ndarray]] = {}
    for tid in sorted(per_track):
        best = sorted(per_track[tid])[:max(1, k)]
        vecs = [encoder.descriptor(frames[j], faces[j].boxes[i]) for _, j, i, _ in best]
        out[tid] = (best[0][3], np.mean(vecs, axis=0).astype(np.float32))
    return out

"""Library versions recorded in every run.json, so a result can be traced to what produced it."""
from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("dfprep", "ray", "torch", "torchvision", "decord", "av", "facenet-pytorch", "dlib-bin", "pyarrow",
            "numpy", "webdataset", "imagehash", "pillow")


def library_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out

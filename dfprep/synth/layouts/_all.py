"""Imports every layout writer module (each registers itself in WRITERS)."""
from dfprep.synth.layouts import (  # each layout module registers itself
    ffpp, celebdf, deeperforensics, uadfv, dfdc_preview, fakeavceleb, images, manifest)

__all__ = ["ffpp", "celebdf", "deeperforensics", "uadfv", "dfdc_preview", "fakeavceleb", "images", "manifest"]

"""Imports every layout writer module (each registers itself in WRITERS)."""
from dfprep.synth.layouts import ffpp  # noqa: F401

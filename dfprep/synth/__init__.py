"""Synthetic DFDC-layout corpus (real photographed faces, face-swapped fakes) for tests and the demo.

config (SynthConfig, light to import), identities (the photographed people), render (frames of a VideoSpec),
encode (H.264 + AAC through PyAV), corpus (make_corpus: parts, metadata.json, SynthSummary), hostile (broken
entries for ingest's tests), cli; layouts/ writes every other dataset's layout (`--layout`).
"""
from dfprep.synth.corpus import SynthConfig, make_corpus, metadata, plan_part, render_video
from dfprep.synth.hostile import add_hostile_files
from dfprep.synth.render import Person, Swap, VideoSpec, face_boxes, iter_frames, render_background, render_frame

__all__ = ["SynthConfig", "make_corpus", "metadata", "plan_part", "render_video", "add_hostile_files",
           "Person", "Swap", "VideoSpec", "face_boxes", "iter_frames", "render_background", "render_frame"]

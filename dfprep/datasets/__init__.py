"""Every dataset the field trains on, behind one interface.

- `base`: `Layout` (recognise a ROOT, list it as typed `VideoEntry` records), `Found`, `DiscoverOptions`.
- `registry`: layouts by name, `--dataset auto`.
- `common`: listing a ROOT's files with ingest's rules for hostile inputs (symlinks leaving ROOT, FIFOs...).
- `discover`: every ROOT of a run, each through its layout, then the links between datasets.
- one module per layout: `dfdc` (training parts, a folder with a metadata.json, the public test set, the
  preview), `ffpp` (FaceForensics++ and DFD, `ffpp_splits` for the official split and identity leak),
  `celebdf`, `deeperforensics`, `uadfv`, `fakeavceleb`, `images`, `manifest`.
"""
from dfprep.datasets import (  # each layout module registers itself
    dfdc, ffpp, celebdf, deeperforensics, uadfv, dfdc_extra, fakeavceleb, images, manifest)

__all__ = ["dfdc", "ffpp", "celebdf", "deeperforensics", "uadfv", "dfdc_extra", "fakeavceleb", "images", "manifest"]

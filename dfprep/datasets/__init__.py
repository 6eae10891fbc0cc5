"""Every dataset the field trains on, behind one interface.

- `base`: `Layout` (recognise a ROOT, list it as typed `VideoEntry` records), `Found`, `DiscoverOptions`.
- `registry`: layouts by name, `--dataset auto`.
- `common`: listing a ROOT's files with ingest's rules for hostile inputs (symlinks leaving ROOT, FIFOs...).
- `discover`: every ROOT of a run, each through its layout, then the links between datasets.
- one module per layout: `dfdc` (training parts, a folder with a metadata.json, the public test set, the
  preview), `ffpp` (FaceForensics++ and DFD, `ffpp_splits` for the official split and identity leak),
  `celebdf`, `deeperforensics`, `uadfv`, `fakeavceleb`, `images`, `manifest`.
"""
from dfprep.datasets import dfdc  # noqa: F401  (each layout module registers itself)
from dfprep.datasets import ffpp  # noqa: F401
from dfprep.datasets import celebdf  # noqa: F401
from dfprep.datasets import deeperforensics  # noqa: F401
from dfprep.datasets import uadfv  # noqa: F401
from dfprep.datasets import dfdc_extra  # noqa: F401
from dfprep.datasets import fakeavceleb  # noqa: F401
from dfprep.datasets import images  # noqa: F401
from dfprep.datasets import manifest  # noqa: F401

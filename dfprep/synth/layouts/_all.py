"""Imports every layout writer module (each registers itself in WRITERS)."""
from dfprep.synth.layouts import ffpp  # noqa: F401
from dfprep.synth.layouts import celebdf  # noqa: F401
from dfprep.synth.layouts import deeperforensics  # noqa: F401
from dfprep.synth.layouts import uadfv  # noqa: F401
from dfprep.synth.layouts import dfdc_preview  # noqa: F401
from dfprep.synth.layouts import fakeavceleb  # noqa: F401
from dfprep.synth.layouts import images  # noqa: F401
from dfprep.synth.layouts import manifest  # noqa: F401

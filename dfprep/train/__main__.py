"""torchrun entry point: `dfprep train`, one process per rank.

    torchrun --standalone --nproc_per_node=N -m dfprep.train SHARDS --out RUN [dfprep train options]
"""
from __future__ import annotations

import typer

from dfprep.train.cli import train_command

if __name__ == "__main__":
    from dfprep.torchpair import refuse_mismatched_pair

    refuse_mismatched_pair()
    typer.run(train_command)

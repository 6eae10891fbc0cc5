"""torchrun entry point: `dfprep train`, one process per rank.

    torchrun --standalone --nproc_per_node=N -m dfprep.train SHARDS --out RUN [dfprep train options]
"""
from __future__ import annotations

import typer

from dfprep.train.cli import train_command

if __name__ == "__main__":
    typer.run(train_command)

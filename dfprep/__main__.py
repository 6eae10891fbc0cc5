"""`python -m dfprep ...`: the same as the `dfprep` command."""
from dfprep.cli import app

app()

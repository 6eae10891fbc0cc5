"""dfprep.faces."""

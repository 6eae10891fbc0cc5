"""dfprep.train."""

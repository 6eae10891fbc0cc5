"""dfprep.analysis."""

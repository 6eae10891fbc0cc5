"""dfprep."""

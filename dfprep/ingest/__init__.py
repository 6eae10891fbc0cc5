"""dfprep.ingest."""

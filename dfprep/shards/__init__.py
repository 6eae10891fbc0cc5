"""dfprep.shards."""

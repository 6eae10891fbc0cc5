"""Faces of a video's sampled frames: params (crop settings), detectors (by name), geometry (copies, crops),
tracks, extract (plain core), identity (track embeddings), actor (Ray detector with cross-video batching).
faces.parquet itself is dfprep.formats.work.faces."""

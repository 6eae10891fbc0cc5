"""Videos -> the WORK face store (`dfprep ingest`).

discover (metadata.json and the folders -> one VideoEntry per video), probe, decode and video (the plain
per-video core), batching (which videos each batch file holds; growth), batches
(journal, batch files, resume), inputs (is a listed file still the one ingested), completion (has WORK's ingest
finished), resources (what the cluster can run), tasks (VideoTask/VideoResult), scheduling (the scheduler's
decisions, plain), worker and scheduler (Ray; `process_videos` for predict), timeline (stage timings), summary
(IngestSummary), run (the library function), config and cli.
"""

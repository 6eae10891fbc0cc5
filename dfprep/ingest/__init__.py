"""Videos -> the WORK face store (`dfprep ingest`).

discover (DFDC's metadata.json and folders -> one VideoEntry per video; every other dataset's layout is
`dfprep.datasets`), probe, decode, image (an image as a one-frame video) and video (the plain per-video core),
state (_state.json's guard: one set of settings, each part from one ROOT), batching (which videos each batch file holds; growth), batches
(journal, batch files, resume), inputs (is a listed file still the one ingested), completion (has WORK's ingest
finished), resources (what the cluster can run), tasks (VideoTask/VideoResult), scheduling (the scheduler's
decisions, plain), worker and scheduler (Ray; `process_videos` for predict), timeline (stage timings), summary
(IngestSummary), run (the library function), config and cli.
"""

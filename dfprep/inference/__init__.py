"""Using a trained RUN on videos: predict (scores and a Kaggle-format submission; decodes and detects through
ingest's public `process_videos`), inputs (every *.mp4 entry of INPUT gets a row), outputs (where predict
writes, local or remote), evaluate (metrics of a submission against labels), runeval + matrix (`dfprep evaluate
RUN`: the cross-dataset matrix of a run on a split of SHARDS), explain (Grad-CAM maps), config
(PredictConfig, EvaluateConfig, ExplainConfig) and cli (their Typer commands). RUN is read through
dfprep.formats.run."""

"""SHARDS -> RUN (`dfprep train`).

config (TrainConfig), data (the webdataset pipeline over SHARDS), workers (loaders safe to interrupt), models
and temporal (frame and clip models), trainer (one step, AMP), metrics, checkpoint (model and RNG state),
runstore (RUN local or staged), run (the library function), summary (TrainSummary), ddp + __main__ (torchrun),
errors, cli. RUN's files are named and read through dfprep.formats.run.
"""

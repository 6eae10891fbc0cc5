"""dfprep.analysis: the EDA report (`dfprep analyze`).

load (read WORK, project the face store) -> labels, health, lengths, faces, similarity, datasets (by dataset
and method; plain dicts of
numbers, shared helpers in summaries) -> figures (PNG from those dicts) and gallery (the few crops shown)
-> sections + html (the page) -> run.analyze writes report/index.html, stats.json, figures/. identity reads
SHARDS' typed index (dfprep.formats.shards) for leakage between splits; config holds AnalyzeConfig and the
AnalyzeSummary the CLI (cli) prints.
"""

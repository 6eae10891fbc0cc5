"""WORK/run.json (the last run's summary) and WORK/_state.json (the settings and ROOT WORK was made with):
their writers and typed readers.

Other stages read only what `IngestRun` holds (`read_run_json`); the rest of run.json is for people. Readers check
presence and type through `dfprep.records.Fields`: a missing or mistyped key is a WorkError, one line naming the
file and the key.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dfprep.atomic import write_json
from dfprep.formats.work.names import WorkError, run_json_path, state_path
from dfprep.ingest.config import IngestConfig, IngestSettings, RecordedIngest
from dfprep.storage import as_path

_OLDER = " (written by an older dfprep? rerun `dfprep ingest` on it)"


def _hint(work: Path) -> str:
    return f"is {work} the --out folder of `dfprep ingest`?"


@dataclass(frozen=True)
class IngestRun:
    """What other stages read of WORK/run.json (`read_run_json`): where the videos came from, the settings and
    fingerprint the face store was made with, and the problems discovery found."""
    path: Path
    root: str
    fingerprint: str
    settings: IngestSettings
    problems: tuple[str, ...]

    def recorded(self) -> RecordedIngest:
        return RecordedIngest(self.settings, self.fingerprint)


def write_run_json(work: Path, summary: dict) -> None:
    """WORK/run.json: the run's summary (`dfprep.ingest.run`), written whole; the last thing an ingest writes."""
    write_json(run_json_path(work), summary)


def read_run_json(work: Path) -> IngestRun:
    """WORK/run.json, checked; WorkError (one line naming the file and the key) when it is absent or a key that
    later stages read is missing or mistyped. A run.json written before `settings` was recorded gives the
    settings of its `config`."""
    from dfprep.records import Fields, load_object

    path = run_json_path(work)
    f = Fields(load_object(path, WorkError, _hint(work)), path, WorkError, note=_OLDER)
    if f.has("settings"):
        settings = IngestSettings.from_fields(f.sub("settings"))
    else:
        config = f.sub("config")
        known = {k: v for k, v in config.data.items() if k in IngestConfig.__dataclass_fields__}
        try:
            settings = IngestSettings.of(IngestConfig(**{"identity": False, **known}))   # older: no embeddings
        except (KeyError, TypeError) as exc:
            raise WorkError(f"{path}: key 'config' holds no usable ingest settings ({exc})") from None
        settings = IngestSettings.from_fields(Fields(settings.as_dict(), path, WorkError, "config.", _OLDER))
    return IngestRun(path, f.need("root", str), f.need("fingerprint", str), settings, f.strings("problems"))


def read_last_run(work: Path) -> dict | None:
    """The previous run.json as written (a run that processed nothing keeps its plan and timings); None when
    there is none or it cannot be read (it is only carried over, never trusted)."""
    try:
        prev = json.loads(run_json_path(work).read_text())
    except (OSError, ValueError):
        return None
    return prev if isinstance(prev, dict) else None


def write_state(work: Path, state: dict) -> None:
    """WORK/_state.json: `{root, fingerprint, settings}`, written once a run is known to go ahead."""
    write_json(state_path(work), state)


def read_state(work: Path) -> dict | None:
    """WORK/_state.json as written (the resume guard compares it whole); None when absent; WorkError naming the
    file when it is not a JSON object."""
    from dfprep.records import load_object

    path = state_path(work)
    return load_object(path, WorkError, _hint(work)) if path.exists() else None


def read_ingest_state(work: Path) -> RecordedIngest:
    """WORK/_state.json (written when an ingest starts): its settings and fingerprint, checked."""
    from dfprep.records import Fields, load_object

    path = state_path(work)
    f = Fields(load_object(path, WorkError, _hint(work)), path, WorkError, note=_OLDER)
    return RecordedIngest.from_fields(f)


def recorded_ingest(work: Path) -> RecordedIngest | None:
    """The settings and fingerprint WORK's face store was made with: from run.json, or from _state.json when
    no ingest has finished yet; None for a WORK that `dfprep ingest` did not write (neither file)."""
    work = as_path(work)
    if run_json_path(work).is_file():
        return read_run_json(work).recorded()
    if state_path(work).is_file():
        return read_ingest_state(work)
    return None

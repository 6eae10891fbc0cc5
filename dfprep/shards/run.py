"""`make_shards(work, out, cfg)`: the library function behind `dfprep shards WORK --out SHARDS`.

plan (driver, no pixels) -> one Ray task per shard (`write_shard`) -> families.parquet, wids indexes, index.json
last. Safe to interrupt: `_state.json` records every finished shard (every few seconds while running, and on
the way out of an interrupted run, with the shards Ray finished but the driver had not collected yet), so
rerunning the same command keeps every finished shard whose sha256 still matches and writes only the others.
A WORK that has grown since SHARDS was cut adds a generation of new shards beside the old ones (`grow`).
"""
from __future__ import annotations

import errno
import time
from pathlib import Path

from dfprep.atomic import remove_stale_tmp
from dfprep.dataset import LABELS, SPLITS
from dfprep.errors import StoreError
from dfprep.ingest.config import RecordedIngest
from dfprep.progress import Reporter
from dfprep.shards.balance import class_weights
from dfprep.shards.config import NothingNew, ShardsConfig, ShardsUsageError
from dfprep.shards.grow import (WorkChanged, generation_record, growth_summary, merged, recorded_resplit,
                                resume_point)
from dfprep.formats.shards import (FAMILIES, FORMAT, INDEX, member_names, read_index_record, shard_files, wids_name,
                                   write_families, write_index)
from dfprep.shards.index import run_fingerprint, write_state
from dfprep.shards.layout import Plan, make_plan
from dfprep.shards.samples import SAMPLE_SCHEMA
from dfprep.shards.summary import GrowthSummary, ShardsSummary
from dfprep.formats.work.faces import HASH_METHOD, store_hash
from dfprep.shards.source import store_paths
from dfprep.shards.writer import file_sha256, write_shard
from dfprep.versions import library_versions
from dfprep.storage import as_path

STATE_EVERY_S = 2.0


def _init_ray(cfg: ShardsConfig) -> bool:
    from dfprep.rayinit import init_ray

    return init_ray(cfg.address, cfg.num_cpus)


def _reusable(path: Path, prev: dict | None, planned: int) -> bool:
    return (prev is not None and path.is_file() and prev.get("n_samples") == planned
            and path.stat().st_size == prev.get("bytes") and file_sha256(path) == prev.get("sha256"))


def _run_tasks(plan: Plan, work: Path, out: Path, todo: list[tuple[str, int]], on_done, cfg: ShardsConfig) -> list:
    """Write the shards in `todo`, on Ray (one task per shard, bounded in flight) or serially; returns errors."""
    report = Reporter(enabled=cfg.progress, total=len(todo), title=f"shards {out}")
    errors: list[dict] = []
    started = False
    try:
        if not todo:
            return errors
        if not cfg.use_ray:
            for split, i in todo:
                name = plan.name(split, i)
                on_done(write_shard(plan.shard_spec(split, i), work, out / name))
                report.advance("written", name)
            return errors
        import ray

        started = _init_ray(cfg)
        task = ray.remote(num_cpus=1, max_retries=2)(write_shard)
        limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        pending: dict = {}
        queue = list(todo)
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    split, i = queue.pop(0)
                    name = plan.name(split, i)
                    pending[task.remote(plan.shard_spec(split, i), str(work), str(out / name))] = name
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    name = pending.pop(ref)
                    try:
                        on_done(ray.get(ref))
                        report.advance("written", name)
                    except Exception as exc:  # a failed shard is reported; the others still finish
                        cause = task_cause(exc)
                        errors.append({"shard": name, "error": cause_line(cause),
                                       "errno": getattr(cause, "errno", None)})
                        report.advance("error", name, errors[-1]["error"])
        except KeyboardInterrupt:
            _collect_finished(pending, on_done)
            raise
        return errors
    finally:
        report.close()
        if started:
            import ray

            ray.shutdown()


class ShardWriteError(StoreError, RuntimeError):
    """Shards that failed to be written: one line per cause (`failure_lines`), the finished ones kept."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


HINTS = {errno.ENOSPC: "free space", errno.EDQUOT: "free space (disk quota exceeded)",
         errno.EFBIG: "raise the file size limit (ulimit -f)", errno.EROFS: "make it writable",
         errno.EACCES: "make it writable", errno.EPERM: "make it writable"}


def task_cause(exc: BaseException) -> BaseException:
    """The exception a shard task raised: ray.get wraps it in a RayTaskError whose text is a whole traceback."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def cause_line(exc: BaseException) -> str:
    """One line for a failure: an OS error's reason (and file), else the exception's first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def failure_lines(errors: list[dict], out: Path) -> list[str]:
    """One line per cause: how many shards it stopped, where, and what to do; finished shards are kept."""
    by_cause: dict[str, list[dict]] = {}
    for e in errors:
        by_cause.setdefault(e["error"], []).append(e)
    lines = []
    for text, es in by_cause.items():
        names = ", ".join(e["shard"] for e in es[:3]) + (f" and {len(es) - 3} more" if len(es) > 3 else "")
        hint = HINTS.get(es[0].get("errno"), "fix the cause")
        lines.append(f"{len(es)} shard(s) failed: {text} (writing {names} in {out}); {hint} and rerun the same "
                     "command to resume (finished shards are kept)")
    return lines


def _collect_finished(pending: dict, on_done) -> None:
    """On an interrupt: record the shards whose tasks have already finished (renamed into place) but that the
    driver had not collected, so that a resumed run keeps them instead of writing them again."""
    import ray

    try:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
        for ref in ready:
            try:
                on_done(ray.get(ref, timeout=5))
            except Exception:  # noqa: BLE001 - a failed task is simply not recorded: the rerun writes it
                pass
    except Exception:  # noqa: BLE001 - Ray already going down: what on_done saw is still recorded
        pass


def make_shards(work: Path, out: Path, cfg: ShardsConfig | None = None, overwrite: bool = False) -> ShardsSummary:
    """Write (or resume, or grow) balanced, leak-free WebDataset shards of WORK's face store into OUT.

    Returns a `ShardsSummary`: the index (also written to OUT/index.json), timings and what was written, reused
    or kept; `nothing_new` when WORK holds nothing that OUT does not (then nothing is written). OUT's lease
    (`dfprep.lease`) is taken before `_state.json` is read, so a second run into OUT is refused (LeaseHeld)
    before it plans, writes or deletes anything.
    """
    from dfprep.lease import lease

    cfg = cfg or ShardsConfig()
    cfg.validate()                      # a bad option is refused before OUT is touched
    with lease(as_path(out).resolve(), "dfprep shards"):
        return _make_shards(work, out, cfg, overwrite)


def _make_shards(work: Path, out: Path, cfg: ShardsConfig, overwrite: bool) -> ShardsSummary:
    work, out = as_path(work).resolve(), as_path(out).resolve()
    t0 = time.perf_counter()
    ingest, partial = _recorded_ingest(work, cfg.allow_partial)      # an unfinished WORK: refused first
    _, faces = store_paths(work)
    content_hash = store_hash(faces)
    fingerprint = run_fingerprint(cfg.fingerprint(), content_hash)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    prior, previous = resume_point(out, fingerprint, overwrite)
    if prior is not None:
        prior.check_ingest(ingest)
    resplit = recorded_resplit(out, fingerprint) if prior is None else None
    try:
        try:
            plan = make_plan(work, cfg, prior, keep=resplit["keep"] if resplit else None)
        except WorkChanged as exc:      # refused (one line) unless --resplit: then all of WORK is cut anew
            if not cfg.resplit:
                raise
            resplit, prior, previous = {"keep": exc.keep, "record": exc.record}, None, {}
            plan = make_plan(work, cfg, None, keep=exc.keep)
    except NothingNew as exc:
        index = read_index_record(out)
        kept = sum(len(s["shards"]) for s in index["splits"].values())
        return ShardsSummary(str(out), index, 0, 0, GrowthSummary(None, kept), nothing_new=str(exc),
                             timings={"total_s": round(time.perf_counter() - t0, 3)})
    t_plan = time.perf_counter() - t0

    done: dict[str, dict] = {}
    todo: list[tuple[str, int]] = []
    for split in SPLITS:
        for i, positions in enumerate(plan.splits[split].shards):
            name = plan.name(split, i)
            if _reusable(out / name, previous.get(name), len(positions)):
                done[name] = previous[name]
            else:
                todo.append((split, i))
    reused = len(done)
    if todo:
        write_state(out, fingerprint, cfg.output_settings(), list(done.values()), plan.generation, resplit)
        if plan.generation == 0:    # index.json promises that every shard it lists is whole: not while some are
            (out / INDEX).unlink(missing_ok=True)   # rewritten (a growth leaves the old index, and its shards, be)

    last_state = [time.perf_counter()]

    def on_done(info: dict) -> None:
        done[info["name"]] = info
        if time.perf_counter() - last_state[0] > STATE_EVERY_S:
            write_state(out, fingerprint, cfg.output_settings(), list(done.values()), plan.generation, resplit)
            last_state[0] = time.perf_counter()

    t1 = time.perf_counter()
    try:
        errors = _run_tasks(plan, work, out, todo, on_done, cfg)
    finally:    # also on an interrupt: every shard finished so far is recorded, so a rerun keeps it
        if todo:
            write_state(out, fingerprint, cfg.output_settings(), list(done.values()), plan.generation, resplit)
    t_write = time.perf_counter() - t1
    if errors:
        raise ShardWriteError(failure_lines(errors, out))

    keep = {plan.name(s, i) for s in SPLITS for i in range(len(plan.splits[s].shards))}
    keep |= set(prior.entries) if prior is not None else set()
    for p in shard_files(out):
        if p.name not in keep:          # left by an earlier plan of the same fingerprint: not ours any more
            p.unlink()
    index = build_index(plan, done, work, content_hash, fingerprint, ingest, partial)
    families = plan.families_parquet()
    if prior is not None:
        index, families = merged(prior, index, families)
        index["partial"] = bool(partial) or bool(prior.index.get("partial"))    # any generation's WORK partial
    if resplit:
        index["resplit"] = resplit["record"]
    index["wids"] = {s: wids_name(s) for s in SPLITS if index["splits"][s]["shards"]}
    write_families(out, families)
    write_index(out, index)
    mb = sum(done[plan.name(s, i)]["bytes"] for s, i in todo) / 1e6
    return ShardsSummary(str(out), index, len(todo), reused, growth_summary(prior, plan),
                         nothing_new=None if todo else "every shard of WORK's videos is already written",
                         resplit=resplit["record"] if resplit and todo else None,
                         timings={"plan_s": round(t_plan, 3), "write_s": round(t_write, 3),
                                  "total_s": round(time.perf_counter() - t0, 3),
                                  "write_mb_per_s": round(mb / t_write, 2) if t_write and todo else None})


def _recorded_ingest(work: Path, allow_partial: bool = False) -> tuple[RecordedIngest | None, str | None]:
    """The ingest settings and fingerprint of WORK (run.json, else _state.json; None when WORK has neither), and
    why its ingest is unfinished (None when finished). An unfinished WORK is refused unless `allow_partial`."""
    from dfprep.ingest.completion import partial_message, unfinished_ingest
    from dfprep.formats.work.runjson import recorded_ingest

    partial = unfinished_ingest(work)
    if partial and not allow_partial:
        raise ShardsUsageError(partial_message(work, partial))
    return recorded_ingest(work), partial


def build_index(plan: Plan, done: dict[str, dict], work: Path, content_hash: str, fingerprint: dict,
                ingest: RecordedIngest | None = None, partial: str | None = None) -> dict:
    """index.json; `ingest` (WORK's recorded ingest settings) goes under "ingest", null when WORK has none;
    `partial` (why WORK's ingest is unfinished, given --allow-partial) sets "partial" and a warning."""
    cfg = plan.cfg
    warnings = list(plan.warnings)
    if partial:
        warnings.append(f"cut with --allow-partial from an unfinished ingest of {work} ({partial})")
    if ingest is None:
        warnings.append(f"{work} has no run.json or _state.json of `dfprep ingest`: its crop settings are not "
                        "recorded, so predict and explain will cut crops with ingest's defaults")
    splits = {}
    for split in SPLITS:
        summary = plan.split_summary(split)
        summary["shards"] = [done[plan.name(split, i)] for i in range(len(plan.splits[split].shards))]
        summary["bytes"] = sum(s["bytes"] for s in summary["shards"])
        splits[split] = summary
    natural = plan.splits["train"].balance.get("natural", {})
    from dfprep.formats.work.names import FACES

    source = {"work": str(work), "faces": FACES, "content_hash": content_hash, "hash_method": HASH_METHOD,
              "files": len(plan.files), "crops": int(len(plan.crops["video"])), "videos": len(plan.video_names)}
    record = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "config": cfg.output_settings(),
        "source": source,
        "ingest": ingest.as_dict() if ingest is not None else None,
        "partial": bool(partial),
        "unit": cfg.unit,
        "clip_len": cfg.clip_len if cfg.unit == "clip" else None,
        "members": member_names(cfg.unit, cfg.clip_len),
        "sample_schema": SAMPLE_SCHEMA,
        "labels": {str(i): name for i, name in enumerate(LABELS)},
        "class_weights": class_weights(natural.get("real", 0), natural.get("fake", 0)),
        "samples": sum(s["samples"] for s in splits.values()),
        "bytes": sum(s["bytes"] for s in splits.values()),
        "splits": splits,
        "families": FAMILIES,
        "grouping": plan.grouping,
        "datasets": plan.dataset_counts(),
        "warnings": warnings,
        "versions": library_versions(),
        "generations": [generation_record(plan, splits, source, content_hash, warnings)],
    }
    if plan.dataset_splits:         # --split official or --test-datasets: what decided the splits
        record["dataset_splits"] = plan.dataset_splits
    return record

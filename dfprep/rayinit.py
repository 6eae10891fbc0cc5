"""One way to get a Ray runtime for every stage: an existing cluster, or an embedded local one."""
from __future__ import annotations

import json
import os

# Every video hands MTCNN's RNet/ONet a new number of candidate boxes, and oneDNN caches a compiled primitive
# per shape (1024 by default): on CPU that cache grew a detector by ~0.6 GB over 500 videos.
ONEDNN_CACHE = 64
# One job-wide environment (one torch thread, a small oneDNN cache) lets actors use the worker processes Ray
# prestarts instead of starting new ones for an actor-specific environment.
JOB_ENV = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(ONEDNN_CACHE), "OMP_NUM_THREADS": "1"}


def _submitted_job_env_vars() -> dict:
    """The env_vars of the runtime_env this process runs under as a `ray job submit` entrypoint (else {})."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")  # set by Ray's JobSupervisor for the entrypoint
    if not raw:
        return {}
    try:
        env_vars = (json.loads(raw).get("runtime_env") or {}).get("env_vars") or {}
    except (ValueError, AttributeError):
        return {}
    return env_vars if isinstance(env_vars, dict) else {}


def driver_runtime_env() -> dict:
    """The runtime_env dfprep's ray.init asks for: JOB_ENV (and DFPREP_FAULTS) less what a submitted job sets.

    Ray merges a driver's runtime_env into its job's and refuses any env var both set, so a job submitted
    with OMP_NUM_THREADS in its runtime_env would fail at ray.init; the job's own value wins instead.
    """
    env_vars = dict(JOB_ENV)
    if os.environ.get("DFPREP_FAULTS"):
        env_vars["DFPREP_FAULTS"] = os.environ["DFPREP_FAULTS"]
    for key in _submitted_job_env_vars():
        env_vars.pop(key, None)
    return {"env_vars": env_vars}


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to `address` / RAY_ADDRESS, or start embedded local Ray. True if this call started Ray.

    `address="local"` keeps ray.init from joining a cluster that some `ray start` on this machine left
    behind; a loopback address keeps Ray from rewriting 127.0.0.1 to the host's outward IP.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    runtime_env = driver_runtime_env()
    if address and address != "local":
        from dfprep.raynode import is_loopback, keep_loopback

        if is_loopback(address):
            keep_loopback()
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level="ERROR")
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", runtime_env=runtime_env)
    return True

"""One way to get a Ray runtime for every stage: an existing cluster, or an embedded local one."""
from __future__ import annotations

import os


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to `address` / RAY_ADDRESS, or start embedded local Ray. True if this call started Ray.

    `address="local"` keeps ray.init from joining a cluster that some `ray start` on this machine left
    behind; a loopback address keeps Ray from rewriting 127.0.0.1 to the host's outward IP.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    from dfprep.ingest.plan import CPU_DETECTOR_ENV

    # One job-wide environment (one torch thread, a small oneDNN cache) lets actors use the worker
    # processes Ray prestarts instead of starting new ones for an actor-specific environment.
    env_vars = dict(CPU_DETECTOR_ENV)
    if os.environ.get("DFPREP_FAULTS"):
        env_vars["DFPREP_FAULTS"] = os.environ["DFPREP_FAULTS"]
    runtime_env = {"env_vars": env_vars}
    if address and address != "local":
        from dfprep.raynode import is_loopback, keep_loopback

        if is_loopback(address):
            keep_loopback()
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level="ERROR")
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", runtime_env=runtime_env)
    return True

"""`ray job submit ...` for a test cluster whose Ray has no dashboard (Ray installed without `ray[default]`).

Ray's Jobs API is served by the dashboard, which needs packages (aiohttp_cors, opencensus, prometheus_client...)
that `ray[data]` does not install. This stands in for the `ray` command only where they are missing: it parses
the arguments with Ray's own `ray job submit` click command and `parse_runtime_env_args`, joins the entrypoint
as Ray's CLI does, and submits to Ray's own `JobManager` (what the dashboard's job server calls) in this process
instead of over HTTP. Everything after that is Ray's job path unchanged: the JobSupervisor actor on the head,
the job's runtime_env, the entrypoint in a shell with RAY_ADDRESS set. Exit 0 iff the job SUCCEEDED, like
`ray job submit` (which exits 1 on FAILED). The cluster is named by DFPREP_TEST_GCS_ADDRESS.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import sys


async def _submit(params: dict, runtime_env: dict, timeout: float) -> int:
    import ray
    from ray.dashboard.modules.job.job_manager import JobManager

    manager = JobManager(ray._private.worker.global_worker.gcs_client,
                         ray._private.worker._global_node.get_logs_dir_path())
    job_id = await manager.submit_job(
        entrypoint=shlex.join(params["entrypoint"]), submission_id=params["submission_id"],
        runtime_env=runtime_env, entrypoint_num_cpus=params["entrypoint_num_cpus"],
        entrypoint_num_gpus=params["entrypoint_num_gpus"], entrypoint_memory=params["entrypoint_memory"])
    print(f"Job '{job_id}' submitted successfully", flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (status := await manager.get_job_status(job_id)).is_terminal():
        if loop.time() > deadline:
            manager.stop_job(job_id)
            print(f"Job '{job_id}' still {status} after {timeout} s: stopped", flush=True)
            return 1
        await asyncio.sleep(0.5)
    print(manager.get_job_logs(job_id), end="")
    info = await manager.get_job_info(job_id)
    print(f"Job '{job_id}' {status}: {info.message}", flush=True)
    return 0 if str(status) == "SUCCEEDED" else 1


def main(argv: list[str]) -> int:
    if argv[:2] != ["job", "submit"]:
        print(f"ray_jobs_local: only `ray job submit` is stood in for, not `ray {' '.join(argv)}`", file=sys.stderr)
        return 2
    from ray.dashboard.modules.dashboard_sdk import parse_runtime_env_args
    from ray.dashboard.modules.job.cli import submit

    params = submit.make_context("submit", list(argv[2:])).params
    if params["working_dir"]:
        print("ray_jobs_local: --working-dir needs the dashboard's package upload", file=sys.stderr)
        return 2
    runtime_env = parse_runtime_env_args(runtime_env=params["runtime_env"],
                                         runtime_env_json=params["runtime_env_json"])
    import ray
    from dfprep.raynode import keep_loopback

    keep_loopback()  # the test cluster is on 127.0.0.1: keep Ray from rewriting it to the outward address
    ray.init(address=os.environ["DFPREP_TEST_GCS_ADDRESS"], log_to_driver=False, logging_level="ERROR",
             namespace="ray_jobs_local")
    try:
        return asyncio.run(_submit(params, runtime_env, float(os.environ.get("DFPREP_TEST_JOB_TIMEOUT", 600))))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

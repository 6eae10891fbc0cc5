"""docs/cluster.md's ways of running dfprep on a cluster, checked so that the doc cannot drift from what works.

- The `ray job submit` block is cut out of docs/cluster.md and run by bash against a real Ray head started here
  (its object-store URIs replaced by local paths); the job must succeed and write what embedded Ray writes.
- docs/examples/cluster.yaml goes through Ray's own `prepare_config` + `validate_config` (ray-schema.json).
- docs/examples/rayjob.yaml is checked against a schema of KubeRay's RayJob CRD (tests/kuberay_schema.py),
  its entrypoint parsed by dfprep's own CLI, its runtime_env by Ray, its resources against each other.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

from cluster_util import parquet_files
from kuberay_schema import RAYJOB
from ray_head import JOB_INFOS, ray_head

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "cluster.md"
EXAMPLES = REPO / "docs" / "examples"
URI = re.compile(r"s3://[^\s'\"`)]+")


def doc_block(marker: str) -> str:
    """The fenced code block that follows `<!-- tested: MARKER ... -->` in docs/cluster.md."""
    text = DOC.read_text()
    m = re.search(r"<!-- tested: " + re.escape(marker) + r"\b[^>]*-->\s*```\w*\n(.*?)\n```", text, re.S)
    assert m, f"docs/cluster.md has no block marked `<!-- tested: {marker}`"
    return m.group(1)


def doc_section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def submitted_commands(block: str) -> list[list[str]]:
    """The entrypoints (what follows `--`) of the block's `ray job submit` lines."""
    out = []
    for cmd in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(cmd)
        if argv[:3] == ["ray", "job", "submit"]:
            out.append(argv[argv.index("--") + 1:])
    return out


def entrypoint_commands(entrypoint: str) -> list[list[str]]:
    """A shell entrypoint `a ... && b ...` as its commands."""
    out, cur = [], []
    for tok in shlex.split(entrypoint):
        if tok == "&&":
            out.append(cur)
            cur = []
        else:
            cur.append(tok)
    return out + [cur]


def parse_dfprep(argv: list[str]) -> tuple[str, dict]:
    """Parse a `dfprep ...` command line with dfprep's own Typer/click app, running nothing: the subcommand's
    name and its parameters. A bad option or value raises click's UsageError (Typer's own copy of click)."""
    import typer.main

    from dfprep.cli import app

    assert argv[0] == "dfprep", argv
    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("dfprep", list(argv[1:]))
    while hasattr(cmd, "resolve_command"):  # a group: its first word names the subcommand
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]  # what the group left to its subcommand
        name, cmd, args = cmd.resolve_command(ctx, rest)
        ctx = cmd.make_context(name, args, parent=ctx)
    return ctx.info_name, ctx.params


# --- the doc's URIs and commands agree with each other ---------------------------------------------------------

def test_doc_examples_share_one_bucket_layout():
    block = doc_block("ray-job-submit")
    job = yaml.safe_load((EXAMPLES / "rayjob.yaml").read_text())
    submit_cmds = submitted_commands(block)
    rayjob_cmds = entrypoint_commands(job["spec"]["entrypoint"])
    assert [c[:2] for c in submit_cmds] == [["dfprep", "ingest"], ["dfprep", "shards"]]
    assert [c[:2] for c in rayjob_cmds] == [["dfprep", "ingest"], ["dfprep", "shards"]]
    for a, b in zip(submit_cmds, rayjob_cmds):
        assert URI.findall(" ".join(a)) == URI.findall(" ".join(b))  # the same ROOT, WORK and SHARDS
    layout = doc_section("Object storage layout")
    for text in (block, (EXAMPLES / "rayjob.yaml").read_text(), (EXAMPLES / "cluster.yaml").read_text()):
        for uri in URI.findall(text):
            assert uri in layout, f"{uri} is used in an example but not shown in the object storage layout"
    for a in (submit_cmds, rayjob_cmds):
        ingest, shards = (parse_dfprep(c)[1] for c in a)
        assert str(shards["work"]) == str(ingest["out"])  # shards reads the WORK ingest wrote


def test_doc_links_and_kubectl_secret_match_the_examples():
    text = DOC.read_text()
    for link in re.findall(r"\]\((examples/[^)]+)\)", text):
        assert (DOC.parent / link).is_file(), link
    secret = re.search(r"kubectl create secret generic (\S+)", text).group(1)
    job = yaml.safe_load((EXAMPLES / "rayjob.yaml").read_text())
    refs = {e["secretRef"]["name"] for c in _containers(job) for e in c.get("envFrom", []) if "secretRef" in e}
    assert refs == {secret}


def test_submit_block_entrypoints_parse_as_dfprep_commands():
    names = [parse_dfprep(c)[0] for c in submitted_commands(doc_block("ray-job-submit"))]
    assert names == ["ingest", "write"]
    with pytest.raises(Exception, match="No such option") as err:  # the parser is strict
        parse_dfprep(["dfprep", "ingest", "s3://b/dfdc", "--out", "s3://b/w", "--frame", "32"])
    assert "UsageError" in [c.__name__ for c in type(err.value).__mro__]
    with pytest.raises(Exception, match="not a valid int"):
        parse_dfprep(["dfprep", "ingest", "s3://b/dfdc", "--out", "s3://b/w", "--frames", "many"])


# --- ray up: docs/examples/cluster.yaml ------------------------------------------------------------------------

def _cluster_yaml() -> dict:
    return yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())


def _ray_up_checks(config: dict) -> dict:
    """What `ray up` does to a config before it touches a cloud: Ray's defaults and schema validation."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_cluster_yaml_passes_rays_own_validation():
    cfg = _ray_up_checks(_cluster_yaml())
    types = cfg["available_node_types"]
    assert cfg["provider"]["type"] in ("aws", "gcp")
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("CPU") == 0  # the driver's node runs no tasks
    workers = {k: v for k, v in types.items() if k != cfg["head_node_type"]}
    gpu = {k for k, v in workers.items() if v["resources"].get("GPU", 0) > 0}
    assert gpu and gpu != set(workers), "a GPU type for the detectors and a CPU type for decoding"
    assert {k for k, v in types.items() if "detector" in v["resources"]} == gpu
    for k, v in workers.items():
        assert v["min_workers"] == v["max_workers"], f"{k}: dfprep plans from the nodes alive at start"
    ray_tag = f"rayproject/ray:{ray.__version__}-py"
    images = {"head": cfg["docker"]["head_image"]}
    for k, v in workers.items():
        images[k] = v.get("docker", {}).get("worker_image", cfg["docker"]["worker_image"])
    for k, image in images.items():
        assert image.startswith(ray_tag), f"{k}: {image} is not Ray {ray.__version__}"
        assert image.endswith("-gpu") == (k in gpu), f"{k}: {image}"
    assert len({image.split("-py")[1].split("-")[0] for image in images.values()}) == 1  # one Python
    # the submit command in the file's header runs its detectors where the file puts the detector resource
    text = (EXAMPLES / "cluster.yaml").read_text()
    header = " ".join(line.lstrip("#") for line in text.split("\ncluster_name:")[0].splitlines())
    submit = shlex.split(header[header.index("ray job submit"):].replace("\\", " "))
    name, ingest = parse_dfprep(submit[submit.index("--") + 1:])
    assert name == "ingest" and ingest["detector_resource"] == "detector" and ingest["gpus_per_detector"] > 0
    for target, source in cfg["file_mounts"].items():
        assert (REPO / source).resolve() == REPO, "the checkout is what the nodes install"
        assert any("pip install" in c and target in c for c in cfg["setup_commands"])


@pytest.mark.parametrize("mutate", [
    lambda c: c["available_node_types"]["gpu_detect"].update(resource={"GPU": 1}),   # misspelt key
    lambda c: c["available_node_types"]["gpu_detect"].update(min_workers="two"),     # wrong type
    lambda c: c["docker"].update(worker_images="x"),                                 # misspelt key
    lambda c: c.update(head_node_type="nope"),                                       # no such type
], ids=["node-type-key", "min-workers-type", "docker-key", "head-type"])
def test_ray_validation_refuses_broken_cluster_yaml(mutate):
    cfg = _cluster_yaml()
    mutate(cfg)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        _ray_up_checks(cfg)


# --- KubeRay: docs/examples/rayjob.yaml ------------------------------------------------------------------------

def _rayjob() -> dict:
    return yaml.safe_load((EXAMPLES / "rayjob.yaml").read_text())


def _groups(job: dict) -> list[tuple[str, dict]]:
    spec = job["spec"]["rayClusterSpec"]
    return [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec.get("workerGroupSpecs", [])]


def _containers(job: dict) -> list[dict]:
    return [c for _, g in _groups(job) for c in g["template"]["spec"]["containers"]]


def _ray_resources(group: dict) -> dict:
    """rayStartParams.resources, KubeRay's quoted JSON ('"{\\"detector\\": 1}"'), as a dict."""
    raw = group.get("rayStartParams", {}).get("resources")
    if raw is None:
        return {}
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1].replace('\\"', '"')
    return json.loads(raw)


def _quantity(q) -> float:
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def test_rayjob_matches_the_crd_schema():
    job = _rayjob()
    jsonschema.validate(job, RAYJOB)
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == ray.__version__


@pytest.mark.parametrize("mutate", [
    lambda j: j["spec"].update(runtimeEnvYaml="x"),                                        # misspelt key
    lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(replicas="6"),      # wrong type
    lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("groupName"),          # required
    lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    ["resources"]["limits"].update(cpu="four"),                                            # not a quantity
], ids=["spec-key", "replicas-type", "group-name", "quantity"])
def test_rayjob_schema_refuses_broken_manifests(mutate):
    job = _rayjob()
    mutate(job)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(job, RAYJOB)


def test_rayjob_entrypoint_and_runtime_env():
    from ray.runtime_env import RuntimeEnv

    job = _rayjob()
    cmds = [parse_dfprep(c) for c in entrypoint_commands(job["spec"]["entrypoint"])]
    assert [name for name, _ in cmds] == ["ingest", "write"]
    env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    RuntimeEnv(**env)  # Ray's own validation of a runtime_env
    assert all(isinstance(v, str) for v in env["env_vars"].values())
    secret_like = [k for k in env["env_vars"] if "SECRET" in k or "ACCESS_KEY" in k]
    assert not secret_like, "the dashboard shows the runtime_env: secrets belong in the Secret"


def test_rayjob_resources_agree():
    job = _rayjob()
    ingest = dict(parse_dfprep(entrypoint_commands(job["spec"]["entrypoint"])[0])[1])
    gpu_groups, offering = set(), set()
    images = {c["image"] for c in _containers(job)}
    assert len(images) == 1, "driver and workers run one image (one Ray, one Python)"
    for name, g in _groups(job):
        params = g.get("rayStartParams", {})
        ray_container = g["template"]["spec"]["containers"][0]
        limits = ray_container["resources"]["limits"]
        requests = ray_container["resources"].get("requests", {})
        gpus = _quantity(limits.get("nvidia.com/gpu", 0))
        if "nvidia.com/gpu" in requests:
            assert _quantity(requests["nvidia.com/gpu"]) == gpus, f"{name}: GPU requests must equal limits"
        if name == "head":
            assert params.get("num-cpus") == "0"  # the driver's node runs no tasks
        else:
            assert _quantity(params["num-cpus"]) == _quantity(limits["cpu"]), f"{name}: one worker per core"
            assert g["replicas"] == g["minReplicas"] == g["maxReplicas"], f"{name}: planned from nodes at start"
        if "num-gpus" in params:
            assert _quantity(params["num-gpus"]) == gpus, f"{name}: num-gpus vs nvidia.com/gpu"
        if gpus:
            gpu_groups.add(name)
            tolerated = {t.get("key") for t in g["template"]["spec"].get("tolerations", [])}
            assert "nvidia.com/gpu" in tolerated, f"{name}: GPU nodes are usually tainted"
        if ingest["detector_resource"] in _ray_resources(g):
            offering.add(name)
    assert gpu_groups and offering == gpu_groups, "the detector resource is offered by the GPU groups only"
    gpd = ingest["gpus_per_detector"]
    assert gpd and 0 < gpd <= 1 and (1 / gpd).is_integer(), "whole detectors per GPU"


# --- the `ray job submit` block, run against a real Ray head ---------------------------------------------------

@pytest.mark.slow
def test_ray_job_submit_block_runs_on_a_ray_head(synth_corpus, ingest_work, tmp_path):
    """The doc's block, URIs replaced by local folders, run by bash: both jobs SUCCEEDED with the runtime_env
    the shell wrote, and the WORK equals embedded Ray's byte for byte. Submitted through the head's real
    dashboard (Ray's Jobs HTTP server; `ray[default]` is a test extra)."""
    from ray._private.utils import get_dashboard_dependency_error

    assert get_dashboard_dependency_error() is None, "install the test extras: ray[default] is one"
    work, shards = tmp_path / "work", tmp_path / "shards"
    local = {"s3://my-bucket/dfdc": synth_corpus, "s3://my-bucket/work/dfdc-f32": work,
             "s3://my-bucket/shards/dfdc-f32": shards}
    script = URI.sub(lambda m: shlex.quote(str(local[m.group(0)])), doc_block("ray-job-submit"))
    assert script.count("--frames 32") == 1
    script = script.replace("--frames 32", "--frames 8")  # the frames of the session's ingest_work
    creds = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "dfprep-test-key-id",
             "AWS_SECRET_ACCESS_KEY": "dfprep-test-secret", "AWS_DEFAULT_REGION": "eu-west-3"}
    with ray_head(True) as head:
        assert script.count("http://HEAD_IP:8265") == 2
        env = dict(head["env"], **creds)
        res = subprocess.run(["bash", "-e", "-c", script.replace("http://HEAD_IP:8265", head["dashboard"])],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
        info = subprocess.run([sys.executable, "-c", JOB_INFOS, head["gcs"]], env=head["env"],
                              capture_output=True, text=True, timeout=120)
        assert info.returncode == 0, info.stderr[-3000:]
    jobs = json.loads(info.stdout)
    assert {k: j["status"] for k, j in jobs.items()} == {"dfdc-ingest-f32": "SUCCEEDED",
                                                          "dfdc-shards-f32": "SUCCEEDED"}, jobs
    for j in jobs.values():  # the variables the shell wrote into runtime_env.yaml, as Ray received them
        assert j["runtime_env"]["env_vars"] == dict(creds, OMP_NUM_THREADS="1")
    assert parquet_files(work) == parquet_files(ingest_work)
    run, ref = (json.loads((w / "run.json").read_text()) for w in (work, ingest_work))
    assert run["by_status"] == ref["by_status"] and run["processed_this_run"] == run["videos"] == ref["videos"]
    index = json.loads((shards / "index.json").read_text())
    assert Path(index["source"]["work"]).resolve() == work.resolve() and index["samples"] > 0
    for split in index["splits"].values():
        for sh in split["shards"]:
            assert hashlib.sha256((shards / sh["name"]).read_bytes()).hexdigest() == sh["sha256"]


def test_dockerfile_builds_the_rayjob_image_from_this_ray():
    text = (EXAMPLES / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert re.fullmatch(rf"rayproject/ray:{re.escape(ray.__version__)}-py3\d+-gpu", base), base
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for source in [t for t in line.split() if not t.startswith("--")][:-1]:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which the repository lacks"
    assert {c["image"] for c in _containers(_rayjob())} == {re.search(r"-t (\S+)", text).group(1)}


@pytest.mark.parametrize("job_vars", [{"OMP_NUM_THREADS": "4", "AWS_DEFAULT_REGION": "eu-west-3"}, {}, None])
def test_dfprep_driver_env_merges_into_a_submitted_jobs(monkeypatch, job_vars):
    """Ray's own merge of a job's runtime_env with dfprep's ray.init one succeeds; the job's values win."""
    from ray.runtime_env.runtime_env import _merge_runtime_env

    from dfprep.rayinit import JOB_ENV, driver_runtime_env

    monkeypatch.delenv("DFPREP_FAULTS", raising=False)
    job_env = {"env_vars": job_vars} if job_vars is not None else None
    if job_env is None:
        monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    else:
        monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": job_env, "metadata": {}}))
    merged = _merge_runtime_env(job_env, driver_runtime_env())
    assert merged is not None, "Ray would refuse dfprep's ray.init inside this job"
    assert merged["env_vars"] == {**JOB_ENV, **(job_vars or {})}


def test_a_loopback_head_is_recognised_in_both_option_forms():
    from dfprep.raynode import loopback_head

    assert loopback_head(["--head", "--node-ip-address=127.0.0.1"])
    assert loopback_head(["--head", "--node-ip-address", "127.0.0.1"])
    assert not loopback_head(["--head", "--node-ip-address=10.0.0.5"])
    assert not loopback_head(["--address=127.0.0.1:6379"])              # a worker node: not a head

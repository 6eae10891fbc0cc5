"""Options declared once (`dfprep.options`): a config dataclass's fields make the command's options, with their
choices and bounds refused by Typer before the command runs and by `check_declared` for a library caller."""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from dfprep.errors import UsageError
from dfprep.options import argument, check_declared, command, opt

CALLS = {"choices": 0}


def _kinds() -> tuple[str, ...]:
    CALLS["choices"] += 1
    return ("a", "b", "c")


@dataclass
class Toy:
    name: str = opt("a", "A name.", choices=("a", "b"))
    kinds: tuple[str, ...] = opt(("a",), "Kinds, comma-separated.", choices=_kinds)
    count: int = opt(1, "A count.", min=1)
    share: float = opt(0.5, "A fraction.", min=0, max=1, max_open=True)
    limit: int | None = opt(None, "An optional limit.", min=0)
    hidden: int = opt(-5, "", cli=False)


def _app(seen: list):
    def body(cfg: Toy, where: str) -> None:
        seen.append((cfg, where))

    app = typer.Typer()
    app.command("toy")(command(Toy, body, leading=[argument("where", str, "Where.")]))
    app.command("other")(lambda: None)
    return app


def _invoke(*args):
    seen: list = []
    res = CliRunner().invoke(_app(seen), ["toy", "here", *args])
    return res, seen


def test_fields_parse_into_the_dataclass():
    res, seen = _invoke("--name", "b", "--kinds", "a, c", "--count", "3", "--share", "0", "--limit", "0")
    assert res.exit_code == 0, res.output
    assert seen == [(Toy(name="b", kinds=("a", "c"), count=3, share=0.0, limit=0), "here")]
    res, seen = _invoke()
    assert res.exit_code == 0 and seen == [(Toy(), "here")]           # the dataclass's defaults, as declared


@pytest.mark.parametrize("args, says", [
    (("--name", "z"), "Invalid value for '--name': must be one of a, b, got 'z'"),
    (("--kinds", "a,zz"), "Invalid value for '--kinds': must be one of a, b, c, got 'zz'"),
    (("--count", "0"), "Invalid value for '--count': must be >= 1, got 0"),
    (("--count", "two"), "Invalid value for '--count': 'two' is not a valid int"),
    (("--share", "1"), "Invalid value for '--share': must be in [0, 1), got 1.0"),
    (("--share", "-0.1"), "Invalid value for '--share': must be in [0, 1), got -0.1"),
    (("--limit", "-1"), "Invalid value for '--limit': must be >= 0, got -1"),
    (("--hidden", "1"), "No such option: --hidden"),
])
def test_bad_values_are_refused_before_the_command_runs(args, says):
    res, seen = _invoke(*args)
    assert res.exit_code == 2 and seen == [], res.output
    assert says in " ".join(res.output.replace("│", " ").split()), res.output


def test_choices_from_a_function_are_not_resolved_to_build_the_command():
    before = CALLS["choices"]
    res = CliRunner().invoke(_app([]), ["toy", "--help"])
    assert res.exit_code == 0 and "--kinds" in res.output and "[a|b]" in res.output
    assert CALLS["choices"] == before          # the function (a costly import, in dfprep) runs only to check a value


def test_check_declared_refuses_as_the_cli_does():
    check_declared(Toy(), UsageError)
    for bad, says in ((Toy(name="z"), "--name must be one of a, b, got 'z'"),
                      (Toy(kinds=("b", "q")), "--kinds must be one of a, b, c, got 'q'"),
                      (Toy(count=0), "--count must be >= 1, got 0"),
                      (Toy(share=1.0), "--share must be in [0, 1), got 1.0")):
        with pytest.raises(UsageError) as err:
            check_declared(bad, UsageError)
        assert str(err.value) == says


def test_the_stage_configs_refuse_through_their_declarations():
    """The hand re-checks in validate() gave way to the declared choices and bounds; library callers still get
    the stage's usage error naming the option."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.discover import IngestUsageError
    from dfprep.shards.config import ShardsConfig, ShardsUsageError
    from dfprep.synth.config import SynthConfig, SynthUsageError
    from dfprep.train.config import TrainConfig
    from dfprep.train.errors import TrainUsageError

    for cfg in (IngestConfig(), ShardsConfig(), SynthConfig(), TrainConfig()):
        cfg.validate()
    for cfg, error, says in (
            (IngestConfig(frames=0), IngestUsageError, "--frames must be >= 1, got 0"),
            (IngestConfig(decoder="ffmpeg"), IngestUsageError, "--decoder must be one of"),
            (IngestConfig(timeout_s=0), IngestUsageError, "--timeout must be > 0, got 0"),
            (IngestConfig(jpeg_quality=101), IngestUsageError, "--jpeg-quality must be in [1, 100], got 101"),
            (ShardsConfig(balance="smote"), ShardsUsageError, "--balance must be one of undersample, oversample, none"),
            (ShardsConfig(augment_ops=("hflip", "warp")), ShardsUsageError, "--augment-ops must be one of brightness"),
            (ShardsConfig(identity_threshold=2.0), ShardsUsageError, "--identity-threshold must be in (0, 2), got 2"),
            (ShardsConfig(unit="clip", clip_len=0), ShardsUsageError, "--clip-len must be in 1..999"),   # cross-field
            (TrainConfig(model="vgg"), TrainUsageError, "--model must be one of resnet18"),
            (TrainConfig(lr=0), TrainUsageError, "--lr must be > 0, got 0"),
            (SynthConfig(videos=0), SynthUsageError, "--videos must be >= 1, got 0"),
            (SynthConfig(size="big"), SynthUsageError, "--size must be WxH")):
        with pytest.raises(error) as err:
            cfg.validate()
        assert str(err.value).startswith(says), (cfg, str(err.value))


def _command_options(app, *path) -> set[str]:
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return {p.name for p in cmd.params}


def test_every_command_takes_its_options_from_its_config():
    """Each field on the command line is an option of its command, named as the field, and nothing else declares
    a setting: the command's options are its config's CLI fields plus its folders."""
    from dfprep.analysis.config import AnalyzeConfig
    from dfprep.cli import app
    from dfprep.inference.config import EvaluateConfig, ExplainConfig, PredictConfig
    from dfprep.ingest.config import IngestConfig
    from dfprep.pipeline import DemoConfig
    from dfprep.shards.config import ShardsConfig, VerifyConfig
    from dfprep.synth.config import SynthConfig
    from dfprep.train.config import TrainConfig

    folders = {"synth": {"out", "hostile"}, "ingest": {"root", "out", "overwrite"},
               "analyze": {"work", "out", "metadata_only", "shards"}, "train": {"shards", "out"},
               "predict": {"run", "input", "out"}, "evaluate": {"input", "root", "out"},
               "explain": {"run", "path", "out"}, "demo": {"out"}}
    configs = {"synth": SynthConfig, "ingest": IngestConfig, "analyze": AnalyzeConfig, "train": TrainConfig,
               "predict": PredictConfig, "evaluate": EvaluateConfig, "explain": ExplainConfig, "demo": DemoConfig}
    for name, cls in configs.items():
        fields = {f.name for f in dataclasses.fields(cls) if f.metadata.get("cli")}
        assert _command_options(app, name) == fields | folders[name], name
    shards = {f.name for f in dataclasses.fields(ShardsConfig) if f.metadata.get("cli")}
    assert _command_options(app, "shards", "write") == shards | {"work", "out", "overwrite"}
    verify = {f.name for f in dataclasses.fields(VerifyConfig) if f.metadata.get("cli")}
    assert _command_options(app, "shards", "verify") == verify | {"shards", "work"}


def test_library_defaults_are_the_configs():
    """The library functions the commands call keep their keyword defaults equal to the config's, so a direct
    caller and the command do the same thing."""
    from dfprep.analysis.config import AnalyzeConfig
    from dfprep.analysis.run import analyze
    from dfprep.inference.config import EvaluateConfig
    from dfprep.inference.evaluate import evaluate_submission
    from dfprep.inference.runeval import evaluate_run
    from dfprep.pipeline import DemoConfig, run_demo

    run_only = {f.name for f in dataclasses.fields(EvaluateConfig)} - set(EvaluateConfig.SUBMISSION)
    for fn, cls, ignore in ((analyze, AnalyzeConfig, {"progress"}), (evaluate_submission, EvaluateConfig, run_only),
                            (evaluate_run, EvaluateConfig, {"strict"}), (run_demo, DemoConfig, set())):
        params = inspect.signature(fn).parameters
        for f in dataclasses.fields(cls):
            if f.name not in ignore:
                assert params[f.name].default == f.default, (fn.__name__, f.name)

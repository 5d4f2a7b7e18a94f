"""Every number and every choice is checked while the command line is parsed, before anything loads.

The walk below finds every numeric option of every command from the commands themselves, so an
option added later is covered (and one added without a range fails `test_every_number_has_a_range`).
"""

from __future__ import annotations

import inspect
import math
import typing
from typing import Annotated, Optional

import pytest
import typer.main

from bertcli.cli.app import app
from bertcli.cli.options import ExamplesOrAll, InRange, OneOf, number_option
from bertcli.core import limits
from bertcli.core.encoding import TRUNCATIONS
from bertcli.core.errors import UsageError
from bertcli.core.limits import Range
from bertcli.core.training import TrainConfig, validate_config
from refusals import assert_refused

# Probe values every numeric option is tried with; each is refused unless VALID lists it for that flag.
PROBES = ("0", "-5", "nan", "inf", "too-large")
VALID = {
    "--weight-decay": {"0"},
    "--warmup-ratio": {"0"},
    "--attention-dropout": {"0"},
    "--seed": {"0"},
    "--mistakes": {"0"},
    "--threshold": {"0"},
    "--min-delta": {"0"},
    "--label-smoothing": {"0"},
    "--stride": {"0"},  # windows that share no token
    "--port": {"0"},  # any free port
    "--max-wait-ms": {"0"},  # no wait: each text goes as soon as the model is free
}


def _callbacks(typer_app, path=()):
    """(command path, the function behind it) for every command of the app, sub-apps included."""
    for info in typer_app.registered_commands:
        yield (*path, info.name), inspect.unwrap(info.callback)
    for group in typer_app.registered_groups:
        yield from _callbacks(group.typer_instance, (*path, group.name))


def _click_command(path, typer_app=app):
    command = typer.main.get_command(typer_app)
    for name in path:
        command = command.commands[name]
    return command


def _option_parsers(typer_app=app):
    """(command path, flag, parser or None, base type) for every option whose value is a number or a choice."""
    found = []
    for path, func in _callbacks(typer_app):
        opts = {p.name: p.opts for p in _click_command(path, typer_app).params}
        for name, hint in typing.get_type_hints(func, include_extras=True).items():
            # Python 3.10 wraps the annotation of a None default in Optional[...]: look inside
            hint = next((a for a in typing.get_args(hint) if typing.get_origin(a) is Annotated), hint)
            if typing.get_origin(hint) is not Annotated:
                continue
            base, *meta = typing.get_args(hint)
            base = next((a for a in typing.get_args(base) if a is not type(None)), base)  # Optional[X] -> X
            parser = next((getattr(m, "parser", None) for m in meta if getattr(m, "parser", None)), None)
            if base in (int, float) or isinstance(parser, (InRange, OneOf)):
                flag = next(o for o in opts[name] if o.startswith("--"))
                found.append((path, flag, parser, base))
    return found


OPTIONS = _option_parsers()
NUMBERS = [(path, flag, parser) for path, flag, parser, _ in OPTIONS if isinstance(parser, InRange)]


def _required_arguments(path) -> list[str]:
    """A stand-in for each required argument (a PATH), so that only the option under test is wrong."""
    return ["x" for p in _click_command(path).params if p.param_type_name == "argument" and p.required]


REQUIRED = {path: _required_arguments(path) for path, _ in _callbacks(app)}


def _too_large(parser: InRange) -> str:
    return "1000000000000" if parser.within.integer else "1e12"


def _unchecked(options) -> list[str]:
    return [
        f"{' '.join(path)} {flag}"
        for path, flag, parser, base in options
        if base in (int, float) and not isinstance(parser, InRange)
    ]


def _walk_cases():
    for path, flag, parser in NUMBERS:
        for probe in PROBES:
            if probe not in VALID.get(flag, set()):
                yield pytest.param(path, flag, parser, probe, id=f"{' '.join(path)} {flag} {probe}")


def test_every_number_has_a_range():
    assert _unchecked(OPTIONS) == [], "numeric options without a checked range"
    for path, flag, parser in NUMBERS:
        assert parser.flag == flag, (path, flag, parser.flag)  # the error line names the option the user typed
    walked = {(" ".join(path), flag) for path, flag, _ in NUMBERS}
    assert len(walked) >= 30, sorted(walked)
    for example in [("train", "--warmup-ratio"), ("train", "--max-steps"), ("debug model", "--target-loss"),
                    ("inspect-checkpoint", "--spike-k"), ("predict", "--threshold"), ("evaluate", "--size")]:
        assert example in walked


def test_the_walk_finds_a_number_added_without_a_range():
    extra = typer.Typer()
    extra.callback()(lambda: None)  # a group, as bertcli's app is

    @extra.command("new")
    def new_cmd(
        steps: Annotated[Optional[int], typer.Option("--steps")] = None,
        ratio: Annotated[float, number_option("--ratio", within=limits.WARMUP_RATIO, help="A share.")] = 0.1,
        name: Annotated[str, typer.Option("--name")] = "x",
    ) -> None:
        """A command added later."""

    found = _option_parsers(extra)
    assert [(flag, base) for _, flag, _, base in found] == [("--steps", int), ("--ratio", float)]
    assert _unchecked(found) == ["new --steps"]


@pytest.mark.parametrize("path, flag, parser, probe", list(_walk_cases()))
def test_every_number_refuses_out_of_range(cli, path, flag, parser, probe):
    value = _too_large(parser) if probe == "too-large" else probe
    result = cli(*path, *REQUIRED[path], flag, value)
    assert_refused(result, 2, flag, str(parser.within))


@pytest.mark.parametrize(
    "path, flag, parser",
    [pytest.param(path, flag, parser, id=f"{' '.join(path)} {flag}") for path, flag, parser, _ in OPTIONS if isinstance(parser, OneOf)],
)
def test_every_choice_refuses_a_typo(cli, path, flag, parser):
    line = assert_refused(cli(*path, *REQUIRED[path], flag, "bogus"), 2, f"{flag} takes one of ", "not 'bogus'")
    assert all(choice in line for choice in parser.choices)


@pytest.mark.parametrize(
    "flag, parser", [pytest.param(flag, parser, id=f"{' '.join(path)} {flag}") for path, flag, parser in NUMBERS]
)
def test_valid_values_pass_the_check(flag, parser):
    """The probes VALID lists, and both ends of a closed range, come back as numbers."""
    for probe in VALID.get(flag, ()):
        assert parser(probe) == float(probe)
    within = parser.within
    for end, is_open in ((within.lo, within.lo_open), (within.hi, within.hi_open)):
        if not is_open:
            assert parser(str(int(end)) if within.integer else repr(float(end))) == end


@pytest.mark.parametrize("path, flag, parser, default", [
    pytest.param(path, flag, parser, p.default, id=f"{' '.join(path)} {flag}")
    for path, flag, parser, _ in OPTIONS
    for p in _click_command(path).params
    if p.opts and flag in p.opts and p.default is not None and parser is not None
])
def test_defaults_pass_their_own_check(path, flag, parser, default):
    parsed = parser(default)
    if isinstance(parser, ExamplesOrAll):
        assert parsed == (None if str(default) == "all" else int(default))
    else:
        assert parsed == default


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--warmup-ratio", "5"], "error: --warmup-ratio must be in [0, 1), got 5"),
        (["train", "--weight-decay", "-1"], "error: --weight-decay must be in [0, 1], got -1"),
        (["train", "--max-steps", "0"], "error: --max-steps must be a whole number in [1, 10000000], got 0"),
        (["train", "--max-steps", "-5"], "error: --max-steps must be a whole number in [1, 10000000], got -5"),
        (["train", "--epochs", "nan"], "error: --epochs must be in (0, 1000], got nan"),
        (["train", "--epochs", "inf"], "error: --epochs must be in (0, 1000], got inf"),
        (["train", "--lr", "nan"], "error: --lr must be in (0, 1], got nan; BERT fine-tuning uses 1e-5 to 5e-5"),
        (["train", "--scheduler", "bogus"], "error: --scheduler takes one of linear, cosine, cosine_with_restarts,"),
        (["debug", "model", "--target-loss", "-1"], "error: --target-loss must be in (0, 1], got -1"),
        (["train", "--batch-size", "2.5"], "--batch-size must be a whole number in [1, 4096], got 2.5"),
        (["train", "--batch-size", "lots"], "--batch-size takes a whole number in [1, 4096], not 'lots'"),
        (["train", "--seed", "4294967296"], "--seed must be a whole number in [0, 4294967295], got 4294967296"),
        (["train", "--train-size", "-5"], "--train-size takes a number of examples in [1, 100000000] or 'all', not '-5'"),
        (["train", "--best-metric", "auc"], f"--best-metric takes one of {', '.join(limits.BEST_METRICS)}, not 'auc'"),
        (["train", "--final", "first"], "--final takes one of best, last, not 'first'"),
        (["train", "--precision", "fp8"], "--precision takes one of auto, fp32, bf16, fp16, not 'fp8'"),
        (["train", "--truncation", "middle"], f"--truncation takes one of {', '.join(TRUNCATIONS)}, not 'middle'"),
        (["evaluate", "--precision", "fp16"], "--precision takes one of auto, fp32, bf16, not 'fp16'"),
        (["evaluate", "--quantize", "int4"], "--quantize takes one of none, int8, not 'int4'"),
        (["evaluate", "--bins", "0"], "--bins must be a whole number in [1, 100], got 0"),
        (["predict", "x", "--format", "xml"], "--format takes one of jsonl, csv, not 'xml'"),
        (["predict", "x", "--threshold", "1.5"], "--threshold must be in [0, 1], got 1.5"),
        (["inspect-checkpoint", "x", "--spike-k", "-inf"], "--spike-k must be in (0, 1000], got -inf"),
        (["debug", "run", "x", "--prune", "--keep", "0"], "--keep must be a whole number in [1, 1000], got 0"),
        (["debug", "data", "--max-length", "4"], "--max-length must be a whole number in [8, 131072], got 4"),
        (["debug", "model", "--overfit-lr", "nan"], "--overfit-lr must be in (0, 1], got nan"),
    ],
)
def test_bad_value_is_one_line(cli, args, needle):
    assert_refused(cli(*args), 2, needle)


def test_help_lists_the_choices(cli):
    out = cli("train", "--help").stdout
    for choices in (limits.BEST_METRICS, TRUNCATIONS, limits.FINAL_FROM, limits.SCHEDULERS):
        if len("|".join(choices)) <= 40:
            assert "[" + "|".join(choices) + "]" in out, choices
        else:  # a list too long for one line of help is spelled out in the option's text, which wraps
            assert "One of " + ", ".join(choices) + "." in " ".join(out.split()), choices
    assert "[jsonl|csv]" in cli("predict", "--help").stdout


def test_choices_take_any_case():
    assert OneOf("--precision", ("auto", "fp32", "bf16"))(" BF16 ") == "bf16"
    assert OneOf("--truncation", ("head", "tail", "head+tail"))("Head+Tail") == "head+tail"


@pytest.mark.parametrize(
    "within, value, ok",
    [
        (Range(0, 1, hi_open=True), "0", True),
        (Range(0, 1, hi_open=True), "0.999", True),
        (Range(0, 1, hi_open=True), "1", False),
        (Range(0, 1, lo_open=True), "0", False),
        (Range(0, 1, lo_open=True), "1e-300", True),
        (Range(0, 1, lo_open=True), "-0.0", False),
        (Range(1, 10, integer=True), "1e1", True),
        (Range(1, 10, integer=True), "1_0", True),
        (Range(1, 10, integer=True), "1.5", False),
        (Range(1, 10, integer=True), "11", False),
        (Range(0, 10), "NaN", False),
        (Range(0, 10), "-nan", False),
        (Range(0, 10), "Infinity", False),
        (Range(0, 10), "", False),
    ],
)
def test_range_edges(within, value, ok):
    if ok:
        assert within.contains(within.check("--x", value))
    else:
        with pytest.raises(UsageError, match=r"^--x (must be|takes)"):
            within.check("--x", value)


# transformers schedules bertcli does not offer: they need scheduler arguments bertcli does not pass
# (min_lr, num_decay_steps) or step on evaluation metrics rather than on training steps.
NOT_OFFERED = {"reduce_lr_on_plateau", "greedy", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay"}


def test_schedulers_match_transformers():
    import torch
    from transformers import SchedulerType
    from transformers.optimization import get_scheduler

    known = {s.value for s in SchedulerType}
    assert set(limits.SCHEDULERS) <= known, set(limits.SCHEDULERS) - known
    assert known - set(limits.SCHEDULERS) == NOT_OFFERED  # a new transformers schedule is a decision, not an omission
    for name in limits.SCHEDULERS:
        optimizer = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=1e-3)
        scheduler = get_scheduler(name, optimizer, num_warmup_steps=1, num_training_steps=10)
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"lr": math.nan}, "--lr must be in (0, 1], got nan"),
        ({"epochs": math.inf}, "--epochs must be in (0, 1000], got inf"),
        ({"weight_decay": math.nan}, "--weight-decay must be in [0, 1], got nan"),
        ({"warmup_ratio": 5.0}, "--warmup-ratio must be in [0, 1), got 5"),
        ({"max_steps": -5}, "--max-steps must be a whole number in [1, 10000000], got -5"),
        ({"train_size": 0}, "--train-size must be a whole number in [1, 100000000], got 0"),
        ({"attention_dropout": 1.0}, "--attention-dropout must be in [0, 1), got 1"),
        ({"seed": -1}, "--seed must be a whole number in [0, 4294967295], got -1"),
        ({"batch_size": 2.5}, "--batch-size must be a whole number in [1, 4096], got 2.5"),
        ({"scheduler": "bogus"}, "--scheduler takes one of linear"),
        ({"final_from": "first"}, "--final takes one of best, last"),
    ],
)
def test_validate_config_refuses_the_same(change, needle, tmp_path):
    """Callers from Python get the CLI's checks, NaN included."""
    with pytest.raises(UsageError) as err:
        validate_config(TrainConfig(output_dir=tmp_path, **change))
    assert needle in str(err.value)


def test_validate_config_accepts_the_defaults_and_normalises(tmp_path):
    import numpy as np

    cfg = validate_config(TrainConfig(output_dir=tmp_path, seed=np.int64(7), batch_size=16.0, precision="BF16"))
    assert (cfg.seed, cfg.batch_size, cfg.precision) == (7, 16, "bf16")
    assert isinstance(cfg.seed, int) and isinstance(cfg.batch_size, int)

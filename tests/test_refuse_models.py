"""Broken models and inputs that nothing can be learned or predicted from are refused, never silently used.

A model folder without a tokenizer, a tokenizer larger than the embedding, NaN weights, a truncated
model.safetensors, an encoder without a trained head, a run that diverges, and a predict input in
which not one text can be classified: each ends with one `error:` line naming the cause and the fix.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from refusals import assert_refused

GOOD = "a wonderful superb brilliant film with excellent acting"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _drop(folder: Path, *names: str) -> Path:
    for name in names:
        (folder / name).unlink(missing_ok=True)
    return folder


def _edit_weights(folder: Path, edit) -> Path:
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    weights = load_file(str(path))
    edit(weights)
    save_file(weights, str(path), metadata={"format": "pt"})
    return folder


def _plant_nan(weights) -> None:
    name = next(k for k in sorted(weights) if k.endswith("layer.0.attention.self.query.weight"))
    weights[name][0, :3] = float("nan")


def _explode_embeddings(weights) -> None:
    """Finite but enormous word embeddings: the first forward pass overflows, so the loss is NaN at step 1."""
    name = next(k for k in weights if k.endswith("word_embeddings.weight"))
    weights[name].fill_(3e38)


def _grow_tokenizer(folder: Path) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.add_tokens([f"extra{i}" for i in range(100)])
    tokenizer.save_pretrained(str(folder))
    return folder


def _truncate(folder: Path) -> Path:
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return folder


@pytest.fixture(scope="session")
def bad(tmp_path_factory, tiny_model, final, reviews_csv):
    """Broken copies of the tiny base model and of the trained `final` model, built once."""
    root = tmp_path_factory.mktemp("broken-models")
    texts = root / "texts"
    texts.mkdir()
    (texts / "blank.txt").write_bytes(b"\n   \n\t\n")
    (texts / "latin1.txt").write_bytes("café noir\ncrème brûlée\n".encode("latin-1"))
    (texts / "binary").write_bytes(b"\x00\x01\x02\x03 PK\x03\x04\x00\x00\n\x00\xff\x10\x00\n")
    (texts / "empty.txt").write_bytes(b"")
    for name in ("reviews.xlsx", "reviews.docx", "reviews.bin"):
        (texts / name).write_bytes(b"PK\x03\x04 not text")
    return SimpleNamespace(
        tiny=tiny_model,
        final=final,
        reviews=reviews_csv,
        texts=texts,
        missing_model=root / "no-such-model",
        base_no_tokenizer=_drop(_copy(tiny_model, root / "base-no-tokenizer"), *TOKENIZER_FILES),
        no_tokenizer=_drop(_copy(final, root / "no-tokenizer"), *TOKENIZER_FILES),
        config_only=_drop(_copy(final, root / "config-only"), "tokenizer.json", "vocab.txt"),
        base_big_vocab=_grow_tokenizer(_copy(tiny_model, root / "base-big-vocab")),
        big_vocab=_grow_tokenizer(_copy(final, root / "big-vocab")),
        nan=_edit_weights(_copy(final, root / "nan"), _plant_nan),
        explode=_edit_weights(_copy(tiny_model, root / "explode"), _explode_embeddings),
        truncated=_truncate(_copy(final, root / "truncated")),
    )


def train(model: str, out: Path, *more: str) -> list:
    return ["train", "--model", model, "--dataset", "{reviews}", "-o", out, "-q", "--max-length", "64", "--batch-size", "8",
            "--max-steps", "4", "--save-steps", "2", "--logging-steps", "2", *more]


def evaluate(model: str) -> list:
    return ["evaluate", "-m", model, "--dataset", "{reviews}", "-q"]


def predict(model: str, *more: str) -> list:
    return ["predict", "-m", model, "-q", *more]


def debug_data(model: str) -> list:
    return ["debug", "data", "--dataset", "{reviews}", "--model", model, "--max-length", "64"]


def debug_model(model: str) -> list:
    return ["debug", "model", "--model", model, "--max-length", "64", "--no-overfit"]


OUT = "{out}"
MISSING_TOKENIZER = ("no usable tokenizer", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "save_pretrained")
TOO_MANY_TOKENS = ("148 tokens", "only 48 embedding rows")
NAN_WEIGHTS = ("non-finite weights", "3 NaN/inf value(s) in 1 tensor(s)", "layer.0.attention.self.query.weight", "earlier checkpoint")
NO_HEAD = ("has no trained classification head", "classifier.weight", "train it first: bertcli train --model", "--allow-untrained-head")
TRUNCATED = ("model.safetensors is incomplete or corrupt", "bytes", "expected", "re-copy it or retrain")
NOTHING = ("nothing could be classified",)
SUFFIX = ("cannot read", ".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")

# (id, command line with {placeholders}, stdin, exit code, what the one error line must name)
CASES = [
    ("train-no-tokenizer", train("{base_no_tokenizer}", OUT), None, 1, MISSING_TOKENIZER),
    ("evaluate-no-tokenizer", evaluate("{no_tokenizer}"), None, 1, MISSING_TOKENIZER),
    ("predict-no-tokenizer", predict("{no_tokenizer}", GOOD), None, 1, MISSING_TOKENIZER),
    ("debug-data-no-tokenizer", debug_data("{base_no_tokenizer}"), None, 1, MISSING_TOKENIZER),
    ("debug-model-no-tokenizer", debug_model("{base_no_tokenizer}"), None, 1, MISSING_TOKENIZER),
    ("predict-tokenizer-config-only", predict("{config_only}", GOOD), None, 1, ("tokenizer.json, vocab.txt are missing", "only tokenizer_config.json")),
    ("train-tokenizer-beyond-embedding", train("{base_big_vocab}", OUT), None, 1, TOO_MANY_TOKENS),
    ("evaluate-tokenizer-beyond-embedding", evaluate("{big_vocab}"), None, 1, TOO_MANY_TOKENS),
    ("predict-tokenizer-beyond-embedding", predict("{big_vocab}", GOOD), None, 1, TOO_MANY_TOKENS),
    ("debug-data-tokenizer-beyond-embedding", debug_data("{base_big_vocab}"), None, 1, TOO_MANY_TOKENS),
    ("debug-model-tokenizer-beyond-embedding", debug_model("{base_big_vocab}"), None, 1, TOO_MANY_TOKENS),
    ("train-from-nan-weights", train("{nan}", OUT), None, 1, NAN_WEIGHTS),
    ("evaluate-nan-weights", evaluate("{nan}"), None, 1, NAN_WEIGHTS),
    ("predict-nan-weights", predict("{nan}", GOOD), None, 1, NAN_WEIGHTS),
    ("debug-model-nan-weights", debug_model("{nan}"), None, 1, NAN_WEIGHTS),
    ("train-loss-becomes-nan", train("{explode}", OUT), None, 1, ("training diverged at step 1", "non-finite", "final/ was not saved", "no checkpoint was saved", "lower --lr")),
    ("evaluate-no-head", evaluate("{tiny}"), None, 1, NO_HEAD),
    ("predict-no-head", predict("{tiny}", GOOD), None, 1, NO_HEAD),
    ("predict-truncated-safetensors", predict("{truncated}", GOOD), None, 1, TRUNCATED),
    ("evaluate-truncated-safetensors", evaluate("{truncated}"), None, 1, TRUNCATED),
    ("debug-model-truncated-safetensors", debug_model("{truncated}"), None, 1, TRUNCATED),
    ("train-from-truncated-safetensors", train("{truncated}", OUT), None, 1, TRUNCATED),
    ("predict-every-line-blank", predict("{final}", "-f", "{texts}/blank.txt"), None, 1, NOTHING + ("all 3 line(s) or row(s)", "2 blank text", "1 empty text")),
    ("predict-every-line-not-utf8", predict("{final}", "-f", "{texts}/latin1.txt"), None, 1, NOTHING + ("all 2 line(s) or row(s)", "2 not valid UTF-8")),
    ("predict-binary-file-as-lines", predict("{final}", "-f", "{texts}/binary"), None, 1, NOTHING + ("binary data",)),
    ("predict-empty-file", predict("{final}", "-f", "{texts}/empty.txt"), None, 1, NOTHING + ("held no text",)),
    ("predict-blank-stdin", predict("{final}", "-"), "\n \n", 1, NOTHING + ("of 'stdin'", "1 empty text, 1 blank text")),
    ("predict-empty-argument", predict("{final}", ""), None, 1, NOTHING + ("every text given was skipped (1 empty text)",)),
    ("predict-xlsx-before-loading", predict("{missing_model}", "-f", "{texts}/reviews.xlsx"), None, 2, SUFFIX + (".xlsx files", "save a spreadsheet as CSV")),
    ("predict-docx", predict("{final}", "-f", "{texts}/reviews.docx"), None, 2, SUFFIX + (".docx",)),
    ("predict-bin", predict("{final}", "-f", "{texts}/reviews.bin"), None, 2, SUFFIX + (".bin",)),
]


@pytest.mark.parametrize("case, args, stdin, exit_code, needles", CASES, ids=[c[0] for c in CASES])
def test_refused(cli, bad, tmp_path, case, args, stdin, exit_code, needles):
    places = {**{k: str(v) for k, v in vars(bad).items()}, "out": str(tmp_path / "out")}
    result = cli(*[str(a).format(**places) for a in args], input=stdin)
    if case == "train-loss-becomes-nan":  # the run plan is printed before training starts: the error is the last line
        assert result.exit_code == exit_code and "Traceback" not in result.stderr, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and all(n in line for n in needles), line
    else:
        assert_refused(result, exit_code, *needles)
    final = tmp_path / "out" / "final"
    assert not (final / "model.safetensors").exists()  # a refused or diverged run leaves no final model


def test_the_bad_input_table_is_big_enough():
    assert len(CASES) >= 15 and len({c[0] for c in CASES}) == len(CASES)


def test_allow_untrained_head_runs_a_base_encoder(cli, tiny_model, reviews_csv):
    result = cli("predict", GOOD, "-m", tiny_model, "--allow-untrained-head", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["labels"] == ["LABEL_0", "LABEL_1"] and doc["predictions"][0]["label"] in doc["labels"]
    scored = cli("evaluate", "-m", tiny_model, "--dataset", reviews_csv, "--allow-untrained-head", "--json", "-q")
    assert scored.exit_code == 0, scored.stderr
    assert json.loads(scored.stdout)["examples"] == 96


def test_some_lines_unreadable_still_exit_zero(cli, final, tmp_path):
    path = tmp_path / "mixed"  # no suffix: read as text lines
    path.write_bytes(b"\n" + GOOD.encode() + b"\n\xff\xfe\n")
    result = cli("predict", "-f", path, "-m", final, "-q")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line).get("label") for line in result.stdout.splitlines()] == [None, "positive", None]


def test_nothing_classified_without_quiet_ends_with_the_error_and_no_summary(cli, final, bad):
    result = cli("predict", "-m", final, "-f", bad.texts / "blank.txt")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: nothing could be classified") and not any(line.startswith("predicted") for line in lines)


def test_diverged_run_keeps_the_last_finite_checkpoint_and_saves_nothing_after(tiny_model, reviews_csv, tmp_path):
    """NaN weights planted by the step-4 update, a save point, are found before the save: no checkpoint-4, no final/."""
    import torch
    from transformers import TrainerCallback

    from bertcli.core.errors import BertCliError
    from bertcli.core.model import load_classifier
    from bertcli.core.training import TrainConfig
    from bertcli.core.training import train as run_training

    class PoisonAtStep4(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 4:
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))

    out = tmp_path / "run"
    cfg = TrainConfig(model=str(tiny_model), dataset=str(reviews_csv), output_dir=out, batch_size=8, lr=1e-3, max_length=64,
                      max_steps=6, save_steps=2, logging_steps=5, train_size=None, eval_size=None, tensorboard=False)
    with pytest.raises(BertCliError) as caught:
        run_training(cfg, callbacks=[PoisonAtStep4()])
    message = str(caught.value)
    assert "training diverged at step 4" in message and "weights became non-finite" in message
    assert f"the last finite checkpoint is {out / 'checkpoint-2'}" in message
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (out / "final" / "model.safetensors").exists()
    load_classifier(str(out / "checkpoint-2"))  # finite: loads without a refusal


def _guard_step(logs: dict, *, fp16: bool = False, step: int = 7, output_dir: str = "nowhere"):
    from transformers import TrainerControl, TrainerState

    from bertcli.core.guards import nonfinite_guard

    guard = nonfinite_guard()
    control = TrainerControl(should_log=True, should_save=True, should_evaluate=True)
    args = SimpleNamespace(fp16=fp16, output_dir=output_dir, learning_rate=0.5)
    guard.on_log(args, TrainerState(global_step=step), control, logs=logs)
    return guard, control, args


@pytest.mark.parametrize("logs", [{"loss": math.nan}, {"loss": math.inf, "grad_norm": 1.0}, {"loss": 0.7, "grad_norm": math.nan}])
def test_guard_stops_on_a_non_finite_log_before_that_steps_save(logs):
    from transformers import TrainerState

    from bertcli.core.errors import BertCliError

    guard, control, args = _guard_step(logs)
    assert control.should_training_stop and not control.should_save and not control.should_evaluate
    with pytest.raises(BertCliError, match=r"training diverged at step 7: the (training loss|gradient norm) became (nan|inf)"):
        guard.on_train_end(args, TrainerState(global_step=7), control)


def test_guard_lets_finite_logs_and_fp16_skipped_steps_through():
    from transformers import TrainerState

    for logs, fp16 in (({"loss": 0.69, "grad_norm": 3.2}, False), ({"loss": 0.69, "grad_norm": math.inf}, True)):
        guard, control, args = _guard_step(logs, fp16=fp16)
        assert control.should_save and not control.should_training_stop
        guard.on_train_end(args, TrainerState(global_step=7), control)  # no error


def test_truncated_shard_of_a_sharded_model_is_named(tiny_model, tmp_path):
    from bertcli.core.errors import ModelError
    from bertcli.core.model import check_weight_files

    folder = _copy(tiny_model, tmp_path / "sharded")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-00001-of-00001.safetensors"}}))
    check_weight_files(folder)  # whole: no error
    shard = folder / "model-00001-of-00001.safetensors"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(ModelError, match="model-00001-of-00001.safetensors is incomplete or corrupt"):
        check_weight_files(folder)


@pytest.mark.slow
def test_packaged_minilm_without_a_head_is_refused_by_predict(cli, minilm):
    result = cli("predict", GOOD, "-m", minilm, "-q")
    assert_refused(result, 1, "has no trained classification head", "classifier.weight", f"bertcli train --model {minilm}")


def test_a_run_folder_stripped_of_weights_says_so(cli, tmp_path):
    """A sweep keeps only states: evaluate and predict say the weights are gone, not 'no config.json'."""
    from refusals import assert_refused

    run = tmp_path / "seed-1"
    (run / "final").mkdir(parents=True)
    (run / "final" / "metrics.json").write_text("{}")
    (run / "checkpoint-8").mkdir()
    (run / "checkpoint-8" / "trainer_state.json").write_text("{}")
    (run / "sweep_run.json").write_text("{}")
    assert_refused(cli("predict", "-m", run, "a film"), 1, "a sweep's run folder without weights", "--keep-weights")
    assert_refused(cli("evaluate", "-m", run, "--dataset", "imdb-sample", "--size", "4"), 1, "without weights")


def test_a_committed_example_run_and_its_checkpoint_say_they_hold_no_weights(cli):
    """A train run with states only (results/minilm-imdb-3ep) is not called a sweep's; its checkpoint is refused
    for its missing weights before any tokenizer is loaded."""
    import time

    from refusals import assert_refused

    run = Path(__file__).resolve().parents[1] / "results" / "minilm-imdb-3ep"
    line = assert_refused(cli("predict", "-m", run, "a film"), 1, "run folder whose checkpoints hold trainer states but no weights",
                          "bertcli inspect-checkpoint")
    assert "sweep" not in line and "--keep-weights" not in line
    assert_refused(cli("predict", "-m", run / "checkpoint-375", "a film"), 1, "a checkpoint with trainer state but no weights")
    assert_refused(cli("evaluate", "-m", run / "checkpoint-375", "--dataset", "imdb-sample"), 1, "but no weights")

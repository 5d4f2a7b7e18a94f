"""Trainer states and run folders built to show one thing each: what `inspect-checkpoint` and `debug run` read.

`trainer_state` writes a trainer_state.json as transformers' Trainer does (5.x by default, 4.x on request);
`write_checkpoint` puts one in a checkpoint folder with the files a run leaves beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

LN2 = math.log(2)

# A reference run: 2,000 reviews, batch 16, 3 epochs = 375 steps, lr 2e-5 linear, logging every 10 steps.
REFERENCE_LOSS = [
    0.6997, 0.6914, 0.6801, 0.6423, 0.4242, 0.4610, 0.5132, 0.4025, 0.3811, 0.4233,
    0.3518, 0.3302, 0.2951, 0.2610, 0.2240, 0.2502, 0.2388, 0.2150, 0.2604, 0.2777,
    0.2010, 0.1893, 0.2105, 0.1760, 0.2279, 0.1402, 0.1311, 0.0843, 0.1502, 0.1187,
    0.1964, 0.1345, 0.1721, 0.1093, 0.1880, 0.1432, 0.1228,
]  # steps 10, 20, ..., 370
REFERENCE_GRAD_NORM = [
    2.41, 1.87, 2.95, 3.62, 4.10, 3.05, 15.03, 4.52, 3.87, 4.95,
    3.21, 2.76, 3.94, 2.58, 4.31, 3.47, 2.12, 3.68, 4.77, 4.02,
    2.39, 1.96, 3.33, 2.85, 4.64, 1.54, 2.27, 1.12, 3.71, 2.04,
    4.46, 1.83, 3.09, 1.41, 3.95, 2.63, 1.98,
]
PEAK_LR, TOTAL, STEPS_PER_EPOCH = 2e-5, 375, 125

# The files a bertcli run saves beside each trainer state: the model's config (two labels) and bertcli.json.
BINARY_CONFIG = {"model_type": "bert", "id2label": {"0": "negative", "1": "positive"}}
MINILM_CONFIG = {"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6, "id2label": {"0": "negative", "1": "positive"}}
RUN_FILES = {"config.json": BINARY_CONFIG, "bertcli.json": {"max_length": 512, "truncation": "head+tail"}}

STEADY = object()  # grad norms that wobble a little: 1.0, 1.05, 1.1, 1.0, ...


def linear_lr(step: int, total: int = TOTAL, *, peak: float = PEAK_LR, warmup: int = 0, before_step: bool = True) -> float:
    """The LR Trainer logs at `step`: transformers 5 logs the one the step used, 4.x the one after it."""
    done = step - 1 if before_step else step
    if done < warmup:
        return peak * done / max(1, warmup)
    return peak * (total - done) / max(1, total - warmup)


def trainer_state(
    losses,
    grad_norms=STEADY,
    *,
    every: int = 10,
    steps_per_epoch: int = 100,
    total: int | None = None,
    global_step: int | None = None,
    epochs: int | None = None,
    batch: int = 16,
    lr=None,
    evals: dict[int, dict[str, float]] | None = None,
    best: str | None = None,
    transformers4: bool = False,
) -> dict:
    """One train log every `every` steps; `evals` (step: metrics, with or without the eval_ prefix) after the
    train log of their step. `total` (max_steps) defaults to the logged steps; `grad_norms=None` logs none."""
    logged = every * len(losses)
    total = total or logged
    if global_step is None:
        global_step = logged + (total - logged) % every
    lr = lr or (lambda step: linear_lr(step, total, before_step=not transformers4))
    if grad_norms is STEADY:
        grad_norms = [1.0 + 0.05 * (i % 3) for i in range(len(losses))]
    history = []
    for index, loss in enumerate(losses):
        step = every * (index + 1)
        entry = {"epoch": round(step / steps_per_epoch, 2), "learning_rate": lr(step), "loss": loss, "step": step}
        if grad_norms is not None:
            entry["grad_norm"] = grad_norms[index]
        history.append(entry)
    for step, metrics in (evals or {}).items():
        history.append(
            {"epoch": round(step / steps_per_epoch, 2), "step": step, "eval_runtime": 3.2, "eval_samples_per_second": 156.1,
             **{"eval_" + key.removeprefix("eval_"): value for key, value in metrics.items()}}
        )
    history.sort(key=lambda entry: (entry["step"], "eval_runtime" in entry))
    state = {
        "best_metric": None,
        "best_model_checkpoint": best,
        "epoch": round(global_step / steps_per_epoch, 4),
        "eval_steps": 500,
        "global_step": global_step,
        "is_hyper_param_search": False,
        "is_local_process_zero": True,
        "is_world_process_zero": True,
        "log_history": history,
        "logging_steps": every,
        "max_steps": total,
        "num_train_epochs": epochs or math.ceil(total / steps_per_epoch),
        "save_steps": every,
        "total_flos": 3.1e15,
        "train_batch_size": batch,
        "trial_name": None,
        "trial_params": None,
    }
    if not transformers4:
        state.update(
            best_global_step=None,
            num_input_tokens_seen=0,
            stateful_callbacks={"TrainerControl": {"args": {"should_training_stop": global_step >= total}, "attributes": {}}},
        )
    return state


def reference_state(losses=REFERENCE_LOSS, grad_norms=REFERENCE_GRAD_NORM, **kwargs) -> dict:
    """The reference run's state (or one with its shape: 375 steps, 125 an epoch)."""
    return trainer_state(losses, grad_norms, **{"total": TOTAL, "steps_per_epoch": STEPS_PER_EPOCH, **kwargs})


def write_checkpoint(folder: Path, state: dict | str | bytes | None, *, weights: int = 64, files: dict | None = None) -> Path:
    """`folder` with `state` as its trainer_state.json (a dict as JSON, text or bytes as they are, None: none),
    `weights` bytes of model.safetensors (0: none) and `files` (name: JSON data) beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(state, dict):
        (folder / "trainer_state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    elif isinstance(state, bytes):
        (folder / "trainer_state.json").write_bytes(state)
    elif state is not None:
        (folder / "trainer_state.json").write_text(state)
    if weights:
        (folder / "model.safetensors").write_bytes(b"\0" * weights)
    for name, data in (files or {}).items():
        (folder / name).write_text(json.dumps(data))
    return folder


def run_with(tmp_path: Path, state: dict, *, weights: int = 64, files: dict | None = RUN_FILES) -> Path:
    """tmp_path/results holding one checkpoint of a bertcli run, at the state's global step."""
    run = tmp_path / "results"
    write_checkpoint(run / f"checkpoint-{state['global_step']}", state, weights=weights, files=files)
    return run


def plant_run(
    tmp_path: Path,
    losses: list[float],
    *,
    every: int = 10,
    per_epoch: int = 25,
    total: int | None = None,
    max_steps: int | None = None,
    evals: dict[int, dict[str, float]] | None = None,
    lr: float = 2e-5,
    config: dict | None = None,
    training: dict | None = None,
) -> Path:
    """tmp_path/run with one checkpoint at step `total`: linear LR from `lr` over `max_steps`, no warmup, no
    weights; config.json and a bertcli.json (256 tokens) recording `training`."""
    total = total or every * len(losses)
    max_steps = max_steps or total
    state = trainer_state(
        losses, [1.2 + 0.05 * (i % 3) for i in range(len(losses))], every=every, steps_per_epoch=per_epoch,
        total=max_steps, global_step=total, lr=lambda step: linear_lr(step, max_steps, peak=lr), evals=evals,
    )
    settings = {"max_length": 256, "truncation": "head+tail"}
    if training is not None:
        settings["training"] = training
    files = {"config.json": config or MINILM_CONFIG, "bertcli.json": settings}
    return write_checkpoint(tmp_path / "run" / f"checkpoint-{total}", state, weights=0, files=files).parent


def decaying(n: int, start: float = 0.69, end: float = 0.2, wobble: float = 0.004) -> list[float]:
    """A loss that falls smoothly from `start` towards `end`, with a small regular wobble."""
    return [end + (start - end) * math.exp(-4 * i / n) + wobble * (-1) ** i for i in range(n)]


def fluctuating_run(spikes_at: dict[int, float], follow: bool = False) -> tuple[list[float], list[float]]:
    """Smooth fall for 20 logs, then a loss that swings between ~0.08 and ~0.22; grad norms spike where given.

    With `follow`, the late grad norms also grow with the size of each loss change.
    """
    losses = decaying(20, start=0.69, end=0.15, wobble=0.002)
    late = [0.09, 0.20, 0.10, 0.12, 0.22, 0.09, 0.11, 0.21, 0.08, 0.13, 0.20, 0.10, 0.12, 0.22, 0.09, 0.12]
    losses += late
    grads = [2.0 + 0.1 * (i % 4) for i in range(len(losses))]
    if follow:
        for i in range(20, len(losses)):
            grads[i] = 2.0 + 5 * abs(losses[i] - losses[i - 1])
    for step, value in spikes_at.items():
        grads[step // 10 - 1] = value
    return losses, grads


def binary_eval(tp: int, tn: int, positives: int, negatives: int, loss: float) -> dict[str, float]:
    """The eval metrics bertcli logs for two labels, from a confusion matrix."""
    predicted_positive = tp + negatives - tn
    precision, recall = tp / predicted_positive, tp / positives
    return {
        "eval_loss": loss,
        "eval_accuracy": (tp + tn) / (positives + negatives),
        "eval_precision": precision,
        "eval_recall": recall,
        "eval_f1": 2 * precision * recall / (precision + recall),
    }


HEALTHY_EVALS = {
    100: {"loss": 0.32, "accuracy": 0.86},
    200: {"loss": 0.27, "accuracy": 0.89},
    300: {"loss": 0.25, "accuracy": 0.90},
}
# The reference recipe on MiniLM with 400 train reviews at 256 tokens: 75 steps, loss 0.6934 → 0.6755,
# eval accuracy 0.534 / 0.554 / 0.670 on 500 reviews, 253 of them positive.
EXAMPLE_LOSSES = [0.6934, 0.6921, 0.6905, 0.6880, 0.6851, 0.6790, 0.6755]
EXAMPLE_EVALS = {
    25: binary_eval(200, 67, 253, 247, 0.6921),
    50: binary_eval(190, 87, 253, 247, 0.6893),
    75: binary_eval(170, 165, 253, 247, 0.6832),
}


def read_state(checkpoint: Path) -> dict:
    """A checkpoint's trainer_state.json, as a run wrote it."""
    return json.loads((checkpoint / "trainer_state.json").read_text())


def logged_losses(checkpoint: Path) -> dict[int, float]:
    """Step -> training loss, from a checkpoint's trainer state."""
    return {e["step"]: e["loss"] for e in read_state(checkpoint)["log_history"] if "loss" in e}


def codes(diagnosis, split: str | None = None) -> dict[str, str]:
    """Finding code -> level; with `split`, only the findings about that split (by its quoted name)."""
    return {f.code: f.level for f in diagnosis.findings if split is None or f"'{split}'" in f.summary}


def by_code(diagnosis, code: str):
    return next(f for f in diagnosis.findings if f.code == code)

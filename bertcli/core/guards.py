"""Numbers that are not numbers: refuse a model with NaN/inf weights, stop a run whose loss or weights stop being finite.

A diverged run must never look like a finished one. `check_finite_weights` refuses to use a model
whose weights hold NaN or inf. `nonfinite_guard()` is a TrainerCallback that checks the weights
after every optimizer step, and the logged loss and grad norm; on the first non-finite value it
stops the run before anything is evaluated or saved at that step (the Trainer calls on_step_end,
then logs, evaluates and saves: `_maybe_log_save_evaluate`), so the newest checkpoint on disk is
the last finite one, and it raises when the Trainer returns, so no final/ model is written from
NaN weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from bertcli.core.errors import BertCliError, ModelError

# Logged values that must stay finite. A grad norm of inf is normal under fp16 loss scaling (the
# step is skipped), so it is only checked when the run is not in fp16.
LOSS_KEYS = ("loss",)
GRAD_NORM_KEY = "grad_norm"


@dataclass(frozen=True)
class NonFinite:
    """How many NaN/inf values a set of tensors holds, in how many tensors, and the first tensor's name."""

    values: int
    tensors: int
    first: str

    def describe(self) -> str:
        return f"{self.values:,} NaN/inf value(s) in {self.tensors} tensor(s), first {self.first}"


def find_nonfinite(named_tensors: Iterable[tuple[str, Any]]) -> NonFinite | None:
    """The NaN/inf values among floating-point tensors, or None when every value is finite.

    The common case costs one sum per tensor (on a GPU one fused L1 norm over all of them) and one
    device sync, 0.4-0.5% of a 16x128 fp32 training step of MiniLM or BERT-base on CPU: a sum is
    finite only when every value is (NaN and inf propagate). Only when it is not are the values
    counted, tensor by tensor (a sum that overflows on huge finite values then finds none).
    """
    import torch

    named = [(name, t.detach()) for name, t in named_tensors if t is not None and t.is_floating_point() and t.numel()]
    if not named:
        return None
    with torch.no_grad():
        if named[0][1].is_cuda:  # one kernel instead of one per tensor
            total = torch.nn.utils.get_total_norm([t for _, t in named], norm_type=1.0)
        else:
            total = torch.stack([t.sum(dtype=torch.float32) for _, t in named]).sum()
        if math.isfinite(float(total)):
            return None
        bad = [(name, int((~torch.isfinite(t)).sum())) for name, t in named]
        bad = [(name, count) for name, count in bad if count]
    if not bad:
        return None
    return NonFinite(sum(count for _, count in bad), len(bad), bad[0][0])


def check_finite_weights(model: Any, name: str) -> None:
    """Refuse a model whose weights (parameters or buffers) hold NaN or inf."""
    bad = find_nonfinite(model.state_dict().items())
    if bad is not None:
        raise ModelError(
            f"'{name}' has non-finite weights ({bad.describe()}) — the run that saved it diverged; "
            "use an earlier checkpoint or train again with a lower --lr"
        )


def _last_finite_checkpoint(output_dir: str | Path) -> str:
    from bertcli.core.runs.checkpoints import newest_complete_checkpoint

    newest = newest_complete_checkpoint(output_dir)
    if newest is None:
        return "no checkpoint was saved before it"
    return f"the last finite checkpoint is {newest.path}"


def nonfinite_guard() -> Any:
    """A TrainerCallback that stops the run at the first non-finite loss, grad norm or weight, then raises.

    It must come after the callbacks that ask for saves (it clears `should_save` once stopped).
    """
    from transformers import TrainerCallback

    class NonFiniteGuard(TrainerCallback):
        def __init__(self) -> None:
            self.reason: str | None = None
            self.step: int | None = None

        def _stop(self, control: Any, step: int, reason: str) -> None:
            if self.reason is None:
                self.reason, self.step = reason, step
            self._hold(control)

        @staticmethod
        def _hold(control: Any) -> None:
            """Nothing more is evaluated or saved, and the loop ends."""
            control.should_save = False
            control.should_evaluate = False
            control.should_epoch_stop = True
            control.should_training_stop = True

        def _check_weights(self, state: Any, control: Any, model: Any) -> None:
            if model is None:
                return
            bad = find_nonfinite(model.named_parameters())
            if bad is not None:
                self._stop(control, state.global_step, f"the weights became non-finite ({bad.describe()})")

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self._check_weights(state, control, model)
            return control

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if self.reason is not None:
                self._hold(control)
            else:  # one sum per tensor per step
                self._check_weights(state, control, model)
            return control

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.reason is not None:
                self._hold(control)
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.reason is not None:
                self._hold(control)
                return control
            keys = LOSS_KEYS + (() if getattr(args, "fp16", False) else (GRAD_NORM_KEY,))
            for key in keys:
                value = (logs or {}).get(key)
                if isinstance(value, (int, float)) and not math.isfinite(value):
                    what = "training loss" if key == "loss" else "gradient norm"
                    self._stop(control, state.global_step, f"the {what} became {value}")
                    break
            return control

        def on_train_end(self, args, state, control, **kwargs):
            if self.reason is None:
                return control
            raise BertCliError(
                f"training diverged at step {self.step}: {self.reason} — final/ was not saved and "
                f"{_last_finite_checkpoint(args.output_dir)}; train again with a lower --lr (it was {args.learning_rate:g})"
            )

    return NonFiniteGuard()

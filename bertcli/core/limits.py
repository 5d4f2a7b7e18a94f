"""The valid range of every number a command takes, and the offered LR schedules.

The CLI checks these while it parses the command line (bertcli.cli.options), before anything is
loaded; core checks the same ranges again for callers from Python (training.validate_config).
NaN and infinity are outside every range.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from bertcli.core.errors import UsageError


@dataclass(frozen=True)
class Range:
    """A closed, open or half-open interval of finite numbers, whole numbers only when `integer`."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    hint: str = ""  # appended to the refusal: what values are usual

    def __str__(self) -> str:
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"{left}{_show(self.lo)}, {_show(self.hi)}{right}"

    @property
    def kind(self) -> str:
        return "a whole number" if self.integer else "a number"

    def contains(self, value: float) -> bool:
        if not math.isfinite(value) or (self.integer and value != int(value)):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def check(self, flag: str, value: object) -> int | float:
        """`value` (a number, or the text a user typed) as an int or float inside the range, else a UsageError."""
        number = self.parse(flag, value)
        if not self.contains(number):
            kind = "a whole number in" if self.integer else "in"
            raise UsageError(f"{flag} must be {kind} {self}, got {_given(value)}{self._hint()}")
        return int(number) if self.integer else float(number)

    def parse(self, flag: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
            raise UsageError(f"{flag} takes {self.kind} in {self}, not {value!r}")
        if isinstance(value, numbers.Real):
            return float(value) if not isinstance(value, numbers.Integral) else int(value)
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{flag} takes {self.kind} in {self}, not '{value}'{self._hint()}") from None

    def _hint(self) -> str:
        return f"; {self.hint}" if self.hint else ""


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _given(value: object) -> str:
    return value.strip() if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


# Training
EPOCHS = Range(0, 1000, lo_open=True)
LR = Range(0, 1, lo_open=True, hint="BERT fine-tuning uses 1e-5 to 5e-5")
WEIGHT_DECAY = Range(0, 1)
WARMUP_RATIO = Range(0, 1, hi_open=True, hint="0.06 to 0.1 is usual")
ATTENTION_DROPOUT = Range(0, 1, hi_open=True)
STEPS = Range(1, 10_000_000, integer=True)  # --max-steps, --save-steps, --logging-steps, --every
KEEP_CHECKPOINTS = Range(1, 1000, integer=True, hint="the newest checkpoint is what --resume needs")
PATIENCE = Range(1, 1000, integer=True, hint="evaluations without improvement before the run stops; 2 to 5 is usual")
MIN_DELTA = Range(0, 1, hint="the smallest change of --best-metric that counts as an improvement")
LABEL_SMOOTHING = Range(0, 1, hi_open=True, hint="0.1 is usual")
GRAD_ACCUM = Range(1, 1024, integer=True, hint="the effective batch is --batch-size x --grad-accum")
CLASS_WEIGHT = Range(0, 1000, lo_open=True)  # each weight of --class-weights
# Shared by several commands
BATCH_SIZE = Range(1, 4096, integer=True)
MAX_LENGTH = Range(8, 131_072, integer=True)
STRIDE = Range(0, 131_072, integer=True, hint="tokens consecutive sliding windows share; a quarter of --max-length is usual")
EXAMPLES = Range(1, 100_000_000, integer=True)  # --train-size, --eval-size, --size (or 'all')
SEED = Range(0, 2**32 - 1, integer=True)  # numpy's seeds are 32-bit
# evaluate / predict
MISTAKES = Range(0, 10_000, integer=True)
BINS = Range(1, 100, integer=True)
THRESHOLD = Range(0, 1)
# inspect-checkpoint / debug run
SPIKE_K = Range(0, 1000, lo_open=True, hint="6 is the default; lower finds more spikes")
KEEP = Range(1, 1000, integer=True, hint="the newest complete checkpoint always stays")
# debug model
OVERFIT_STEPS = Range(1, 10_000, integer=True)
OVERFIT_LR = Range(0, 1, lo_open=True)
TARGET_LOSS = Range(0, 1, lo_open=True, hint="the loss counted as near zero, 0.05 by default")
FOLDS = Range(2, 100, integer=True, hint="5 is usual; each fold trains one model")  # debug labels --folds

# transformers' SchedulerType values that run per step without extra scheduler arguments
# (hard-coded so `--help` needs no transformers; tests/test_refuse_numbers.py keeps it in step).
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)

# What goes to OUTPUT_DIR/final
FINAL_FROM = ("best", "last")
# f1: the positive class's F1 for two labels, macro F1 for more; f1_macro and f1_weighted for any number
BEST_METRICS = ("accuracy", "f1", "f1_macro", "f1_weighted", "loss")


def check_choice(flag: str, value: object, choices: tuple[str, ...]) -> str:
    """The choice `value` names (any case), else a UsageError listing them."""
    text = value.strip().lower() if isinstance(value, str) else None
    for choice in choices:
        if text == choice.lower():
            return choice
    raise UsageError(f"{flag} takes one of {', '.join(choices)}, not '{value}'")

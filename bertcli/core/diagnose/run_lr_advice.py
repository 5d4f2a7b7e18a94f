"""The learning rates `debug run` judges and suggests: the run's peak, and the usual range for its model."""

from __future__ import annotations

from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
from bertcli.core.formatting import sci
from bertcli.core.runs.numbers import is_finite

LARGE_LR = 5e-5  # from here, a run wants warmup
VERY_LARGE_LR = 1e-4  # high for fine-tuning any pretrained encoder
# (largest hidden size, lowest and highest usual fine-tuning learning rate, the models meant)
LR_RANGES = (
    (512, 5e-5, 1e-4, "small models like MiniLM"),
    (768, 2e-5, 5e-5, "bert-base-sized models"),
    (None, 1e-5, 3e-5, "bert-large-sized models"),
)


def peak_lr(d: RunDiagnosis) -> float | None:
    """The run's peak learning rate: the fitted schedule's, else the highest logged; None when unknown."""
    lr = d.lr_schedule
    value = lr.peak if lr.peak is not None else lr.peak_logged
    return value if is_finite(value) and value > 0 else None


def lower_lr(d: RunDiagnosis) -> str:
    """Half the run's peak learning rate (1e-5 when it is not known), as --lr takes it."""
    peak = peak_lr(d)
    return sci(peak / 2) if peak else "1e-5"


def lr_range(d: RunDiagnosis) -> tuple[float, float, str]:
    """The usual fine-tuning learning rates for the run's model, by its hidden size (bert-base's when unknown)."""
    hidden = d.settings.get("hidden_size")
    if not (isinstance(hidden, int) and hidden > 0):
        name = str(d.recorded.model or d.settings.get("model") or "").lower()
        hidden = 384 if "minilm" in name else 1024 if "large" in name else None
    if hidden is None:
        return LR_RANGES[1][1], LR_RANGES[1][2], "bert-base-sized models (this run's model size is not recorded)"
    for limit, low, high, who in LR_RANGES:
        if limit is None or hidden <= limit:
            return low, high, f"{who} (hidden size {hidden})"
    raise AssertionError("LR_RANGES ends with an open range")


def run_lr(d: RunDiagnosis) -> float | None:
    """The peak learning rate, else the one the run recorded."""
    peak = peak_lr(d)
    if peak is None:
        recorded = d.recorded.learning_rate or d.settings.get("learning_rate")
        peak = recorded if is_finite(recorded) and recorded > 0 else None
    return peak


def suggested_lr(d: RunDiagnosis) -> float | None:
    """A learning rate within the usual range for the model: higher than the run's where it was below the
    top, the lowest where it was above the range (a rate that high can collapse a run to one class);
    None where the run's sits at the top of the range."""
    low, high, _ = lr_range(d)
    peak = run_lr(d)
    if peak is None or peak < low * 0.999:
        return low
    if peak < high * 0.999:
        return high
    if peak > high * 1.001:
        return low
    return None


def lr_range_line(d: RunDiagnosis) -> str:
    """The run's learning rate against the usual range for its model, as an evidence line."""
    low, high, who = lr_range(d)
    peak = run_lr(d)
    usual = f"{who} are usually fine-tuned at {sci(low)} to {sci(high)}"
    if peak is None:
        return f"no learning rate recorded; {usual}"
    if peak > high * 1.001:
        return f"peak learning rate {sci(peak)}, above the usual range: {usual}; a rate that high can collapse a run to one class"
    if suggested_lr(d) is None:
        return f"peak learning rate {sci(peak)}, already at the top of the usual range: {usual}; train longer rather than faster"
    return f"peak learning rate {sci(peak)}; {usual}"

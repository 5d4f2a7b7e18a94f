"""`bertcli debug run`: what went wrong in a training run, from its trainer state and checkpoint folders.

Builds on inspect-checkpoint's analysis (grad-norm spikes, NaN/inf, LR schedule, evaluations, lowest loss)
and adds the diagnoses: underfitting (a run that ends near chance: a training loss near ln k or an eval
accuracy near the majority-class rate), overfitting with the train/eval gap per epoch, late fluctuation of
the loss and whether grad-norm spikes line up with it, a loss that does not fall, sits at chance (ln k) or
diverges, LR schedule anomalies, and the disk the checkpoints take (with a safe prune plan). JSON only, no torch.
"""

from __future__ import annotations

from pathlib import Path

from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
from bertcli.core.diagnose.run_findings import run_diagnoses
from bertcli.core.diagnose.run_trends import describe_loss_trend, epoch_gaps, find_overfitting, measure_fluctuation
from bertcli.core.diagnose.run_underfitting import measure_underfitting
from bertcli.core.errors import UsageError
from bertcli.core.findings import sort_findings
from bertcli.core.runs.checkpoints import list_checkpoints
from bertcli.core.runs.disk import apply_prune, measure_disk, plan_prune
from bertcli.core.runs.inspect import analyze_run
from bertcli.core.runs.log import DEFAULT_SPIKE_K, check_spike_k
from bertcli.core.runs.state import RunState, load_trainer_state


def diagnose_run(path: str | Path, spike_k: float = DEFAULT_SPIKE_K) -> RunDiagnosis:
    """Read the trainer state at `path` (run folder, checkpoint or trainer_state.json) and diagnose it."""
    spike_k = check_spike_k(spike_k)
    state = load_trainer_state(path)
    analysis = analyze_run(state, spike_k=spike_k, label=str(path))
    run_dir = run_folder_of(state)
    epochs = epoch_gaps(state)
    trend = describe_loss_trend(state)
    diagnosis = RunDiagnosis(
        state=state,
        analysis=analysis,
        run_dir=str(run_dir) if run_dir is not None else None,
        epochs=epochs,
        overfitting=find_overfitting(epochs) if state.eval_logs else None,
        fluctuation=measure_fluctuation(state, analysis.grad_norms),
        loss_trend=trend,
        # chance for a multi-label run is no majority class nor ln k: those measures are left out (see run_diagnoses)
        underfitting=None if state.recorded.multi_label else measure_underfitting(state, trend, analysis.summary.get("finished")),
        disk=measure_disk(run_dir, state) if run_dir is not None else None,
    )
    diagnosis.findings = sort_findings(run_diagnoses(diagnosis))
    return diagnosis


def diagnose_and_prune(path: str | Path, spike_k: float = DEFAULT_SPIKE_K, *, keep: int = 1,
                       delete: bool = False) -> RunDiagnosis:
    """`diagnose_run` with a plan to delete every checkpoint but the best and the newest `keep` complete ones in
    `diagnosis.prune`; with `delete`, the plan is carried out and the run diagnosed again as it is left."""
    diagnosis = diagnose_run(path, spike_k)
    if diagnosis.run_dir is None:
        raise UsageError(f"--prune needs a run folder with checkpoint-N folders; {path} is a state file on its own")
    plan = plan_prune(diagnosis.run_dir, diagnosis.summary.get("best_model_checkpoint"), keep)
    if delete:
        plan = apply_prune(plan)
        diagnosis = diagnose_run(path, spike_k)
    diagnosis.prune = plan
    return diagnosis


def run_folder_of(state: RunState) -> Path | None:
    """The folder holding the run's checkpoint-N folders, or None for a state file on its own."""
    folder = state.path.parent
    if state.checkpoint is not None:
        return folder.parent
    return folder if list_checkpoints(folder) else None

"""Does the export give the trained model's answers? Both scored on the same labelled texts, side by side.

fp32 must give every label the PyTorch model gives; int8 at least 99.5% of them. The accuracy of both on
the gold labels comes with the exact McNemar test over the texts where only one of them is right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INT8_MIN_AGREEMENT = 0.995
DEFAULT_CHECK_SIZE = 500


@dataclass
class CheckData:
    """Where the parity texts come from."""

    dataset: str
    split: str
    size: int | None = DEFAULT_CHECK_SIZE
    seed: int = 42
    text_column: str = "text"
    label_column: str = "label"
    note: str | None = None  # how the dataset was chosen
    recorded: Any = None  # the run's TrainingRecord when these are its own eval examples, drawn as training drew them


def load_check_texts(data: CheckData) -> Any:
    """The labelled texts of the check: the run's eval split as training drew it, or `split` of the dataset."""
    from bertcli.core.evaluation import EvalData, load_eval_data

    rec = data.recorded
    if rec is None:
        return load_eval_data(data.dataset, data.split, data.size, data.seed, data.text_column, data.label_column)
    from bertcli.core.data.labels import label_values
    from bertcli.core.data.selection import select_examples
    from bertcli.core.data.splits import CARVED, DataSpec

    spec = DataSpec(data.dataset, text_column=data.text_column, label_column=data.label_column,
                    train_split=rec.train_split or "train", eval_split=None if rec.eval_split in (None, CARVED) else rec.eval_split,
                    train_size=rec.train_size, eval_size=rec.eval_size, seed=rec.seed if rec.seed is not None else 42,
                    label_names=rec.label_names)
    chosen = select_examples(spec, for_training=True)
    keep = len(chosen.eval) if data.size is None else min(data.size, len(chosen.eval))
    ds = chosen.eval.select(range(keep))
    return EvalData(texts=list(ds["text"]), labels=label_values(ds), label_names=chosen.label_names,
                    split=chosen.eval_split or data.split, notes=chosen.notes)


@dataclass
class ParityReport:
    dataset: str
    split: str
    texts: int
    agreement: float
    differing: int
    max_abs_diff: float
    mean_abs_diff: float
    torch_accuracy: float | None
    export_accuracy: float | None
    mcnemar_p: float
    mcnemar_verdict: str
    required: str  # what the gate asks: "every label" or "≥ 99.5% of labels"
    passed: bool
    forced: bool = False
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def shown(key: str, value: Any) -> Any:
            if not isinstance(value, float):
                return value
            return float(f"{value:.3g}") if key.endswith("abs_diff") else round(value, 6)  # |Δp| of 1e-7 stays visible

        return {k: shown(k, v) for k, v in asdict(self).items()}

    def line(self) -> str:
        """One line: the agreement, the |Δp| and both accuracies."""
        acc = ""
        if self.torch_accuracy is not None and self.export_accuracy is not None:
            acc = (f"; accuracy {self.torch_accuracy:.4f} (PyTorch) vs {self.export_accuracy:.4f} (export), "
                   f"McNemar p = {self.mcnemar_p:.3g}")
        return (f"{self.agreement:.2%} of {self.texts:,} labels agree ({self.differing} differ); |Δp| max {self.max_abs_diff:.2e}, "
                f"mean {self.mean_abs_diff:.2e}{acc}")


def default_check_data(model_dir: str | Path, dataset: str | None, split: str | None, size: int | None, seed: int) -> CheckData:
    """--check-dataset as given; else the run's own eval split as bertcli.json records it (when that data is
    here), else the bundled IMDb sample's test split."""
    from bertcli.core.defaults import sample_folder
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(model_dir)
    recorded = manifest.recorded if manifest is not None else None
    text_col = (recorded.text_column if recorded else None) or "text"
    label_col = (recorded.label_column if recorded else None) or "label"
    if dataset is not None:
        return CheckData(dataset, split or "test", size, seed, text_col, label_col)
    if recorded is not None and recorded.dataset and Path(recorded.dataset).expanduser().exists():
        if split is not None:
            return CheckData(recorded.dataset, split, size, seed, text_col, label_col)
        return CheckData(recorded.dataset, recorded.eval_split or "test", size, seed, text_col, label_col,
                         note=f"parity texts: the run's eval split ({recorded.dataset}, {recorded.eval_split})", recorded=recorded)
    return CheckData(str(sample_folder()), split or "test", size, seed,
                     note="parity texts: the bundled IMDb sample (the run's own eval data is not here; --check-dataset to pick)")


def check_parity(model_dir: str, export_dir: str | Path, data: CheckData, *, int8: bool, batch_size: int = 32,
                 allow_untrained_head: bool = False, reference: Any = None) -> ParityReport:
    """Score `data` with the PyTorch model (fp32; `reference` when already loaded) and with the export; the gate's
    verdict is in `passed`."""
    import numpy as np

    from bertcli.core.evaluation import label_ids_for_model
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.stream import predict_texts
    from bertcli.core.significance import exact_mcnemar

    examples = load_check_texts(data)
    if reference is None:
        reference = load_for_inference(model_dir, precision="fp32", device="cpu", allow_untrained_head=allow_untrained_head)
    results = []
    for clf in (reference, load_for_inference(str(export_dir))):
        results.append((clf, predict_texts(clf, examples.texts, batch_size=batch_size)))
    (torch_clf, torch_preds), (_, export_preds) = results
    pairs = [(a, b) for a, b in zip(torch_preds, export_preds) if a.ok and b.ok]
    if not pairs:
        from bertcli.core.errors import DataError

        raise DataError(f"no text of {data.dataset} ({data.split}) could be classified — pick another --check-dataset")
    same = sum(a.label_id == b.label_id for a, b in pairs)
    diffs = np.abs(np.array([a.probabilities for a, _ in pairs]) - np.array([b.probabilities for _, b in pairs]))
    gold_all = label_ids_for_model(examples.labels, examples.label_names, torch_clf.label_names)
    gold = [g for g, a, b in zip(gold_all, torch_preds, export_preds) if a.ok and b.ok]
    torch_right = [a.label_id == g for (a, _), g in zip(pairs, gold)]
    export_right = [b.label_id == g for (_, b), g in zip(pairs, gold)]
    test = exact_mcnemar(torch_right, export_right)
    agreement = same / len(pairs)
    passed = agreement >= INT8_MIN_AGREEMENT if int8 else same == len(pairs)
    required = f"≥ {INT8_MIN_AGREEMENT:.1%} of labels" if int8 else "every label"
    report = ParityReport(
        dataset=data.dataset, split=examples.split, texts=len(pairs), agreement=agreement, differing=len(pairs) - same,
        max_abs_diff=float(diffs.max()), mean_abs_diff=float(diffs.mean()),
        torch_accuracy=float(np.mean(torch_right)), export_accuracy=float(np.mean(export_right)),
        mcnemar_p=test.p_value, mcnemar_verdict=test.verdict, required=required, passed=passed,
    )
    if not passed:
        report.reason = f"{report.differing} of {report.texts} labels differ from the PyTorch model's; {'int8' if int8 else 'fp32'} needs {required}"
    return report

"""Training dynamics (`train --record-dynamics`): each training example's probabilities, every epoch, from
which `debug labels RUN` draws the data map (dataset cartography, Swayamdipta et al., 2020;
`bertcli.core.diagnose.labels.data_map`).

The probabilities come from the forward pass each training step already makes (the batch's logits before
its update), so recording costs no extra pass: one row of probabilities per example per epoch (a softmax; for
multi-label data each label's sigmoid, with the given label sets kept as 0/1 rows). Confidence is the mean
probability of the given label over epochs, variability its standard deviation, correctness the share of
epochs the model's top label was the given one; for multi-label data "probability of the given label" is
cleanlab's multi-label self-confidence of the given label set, and correct means every label right at 0.5.
Low confidence with low variability: the model never came to believe the label — the examples most likely
mislabelled. Stored as `dynamics.npz` (numpy arrays, read
without pickle) in the run folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from bertcli.core.errors import DataError

DYNAMICS_FILE = "dynamics.npz"
EXAMPLE_COLUMN = "example"  # each training example's position in the train set, passed through the batches


class DynamicsRecorder:
    """Collects the training batches' probabilities by example and epoch; `save` writes dynamics.npz.

    The Trainer calls `record` from its loss; `callback()` is the TrainerCallback that saves at each epoch's
    end and when training ends (so a resumed run keeps the epochs recorded before it stopped)."""

    def __init__(self, rows: Sequence[int], labels: Sequence[int], label_names: Sequence[str], path: Path, resume: bool = False):
        import numpy as np

        self.rows = np.asarray(list(rows), dtype=np.int64)
        # label ids, or for multi-label data each example's 0/1 row (its multi-hot training target)
        given = np.asarray(list(labels), dtype=np.float32)
        self.labels = np.rint(given).astype(np.int8 if given.ndim == 2 else np.int64)
        self.multi_label = self.labels.ndim == 2
        self.label_names = list(label_names)
        self.path = Path(path)
        self.epochs: dict[int, Any] = {}
        self.seconds = 0.0  # time spent recording, for the cost measurement
        if resume and self.path.is_file():
            earlier = read_dynamics(self.path)
            if np.array_equal(earlier["rows"], self.rows):
                for e, probs in zip(earlier["epochs"], earlier["probabilities"]):
                    self.epochs[int(e)] = probs.copy()

    def record(self, examples: Any, logits: Any, epoch: float) -> None:
        import numpy as np
        import torch

        started = time.perf_counter()
        e = int(epoch + 1e-6)
        scores = logits.detach().float()
        probs = (torch.sigmoid(scores) if self.multi_label else torch.softmax(scores, dim=-1)).cpu().numpy()
        table = self.epochs.get(e)
        if table is None:
            table = self.epochs[e] = np.full((len(self.rows), len(self.label_names)), np.nan, dtype=np.float32)
        table[examples.cpu().numpy()] = probs
        self.seconds += time.perf_counter() - started

    def save(self) -> Path | None:
        import numpy as np

        if not self.epochs:
            return None
        epochs = sorted(self.epochs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp, probabilities=np.stack([self.epochs[e] for e in epochs]), epochs=np.asarray(epochs, dtype=np.int64),
            rows=self.rows, labels=self.labels, label_names=np.asarray(self.label_names, dtype=str),
            record_seconds=np.asarray(self.seconds),  # what recording cost the run so far
        )
        tmp.replace(self.path)
        return self.path

    def callback(self) -> Any:
        from transformers import TrainerCallback

        recorder = self

        class SaveDynamics(TrainerCallback):
            def on_epoch_end(self, args, state, control, **kwargs):
                if state.is_world_process_zero:
                    recorder.save()

            def on_train_end(self, args, state, control, **kwargs):
                if state.is_world_process_zero:
                    recorder.save()

        return SaveDynamics()


def read_dynamics(path: Path) -> dict[str, Any]:
    """dynamics.npz as arrays (never unpickled); a DataError for a file that is not one."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in ("probabilities", "epochs", "rows", "labels", "label_names")}
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path} is not a training dynamics file bertcli wrote ({err}) — train again with --record-dynamics") from None
    return data

"""bertcli's Trainer: batches in an order resume can repeat, a record of the save in progress, its own loss.

Imports torch and transformers at once: only the training run imports this module, never the CLI at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Sampler
from transformers import DataCollatorWithPadding, Trainer
from transformers.trainer_pt_utils import get_length_grouped_indices


class EpochLengthGroupedSampler(Sampler):
    """Length-grouped batches whose order depends only on (seed, epoch), never on the global torch RNG.

    transformers' own LengthGroupedSampler draws its permutation from the global torch RNG when the epoch
    starts. A resumed run restores that RNG only after fast-forwarding through the skipped batches, so
    the permutation of the epoch it resumes in came from a fresh process's RNG: killed in epoch 2 or later,
    the resumed run trained on different batches than the uninterrupted one. Here every epoch's order is
    drawn from its own generator seeded with (seed, epoch), and the global RNG is not touched at all.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths = [int(n) for n in lengths]
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        rng = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=rng))


class LongestFirstSampler(Sampler):
    """Evaluation order: the longest text first, then each shorter one, so a batch pads only to lengths
    close to its own texts'.

    transformers' length-grouped evaluation sorts only within megabatches of len // (4 x batch) batches:
    one batch for a 200-review eval set, three for 500, so batches held random lengths, padded to the
    longest: 102,400 tokens for 56,000 real ones on 200 IMDb reviews at 512 (bench/README.md).
    """

    def __init__(self, lengths: Sequence[int]) -> None:
        self.order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        return iter(self.order)


class BertCliTrainer(Trainer):
    """Trainer with four changes: length-grouped batches from `EpochLengthGroupedSampler` (seeded with
    `sampler_seed`), evaluation longest text first with the last layer for [CLS] alone (`evaluate`), a
    record of the checkpoint being saved (so a failed save can be cleaned up and named), and bertcli's
    training loss (see `compute_loss`: `class_weights`, `label_smoothing`)."""

    def __init__(
        self,
        *args: Any,
        sampler_seed: int,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        multi_label: bool = False,
        dynamics: Any = None,
        **kwargs: Any,
    ) -> None:
        self.sampler_seed = sampler_seed
        self.multi_label = multi_label  # binary cross-entropy per label; class_weights are then positive weights
        self.dynamics = dynamics  # bertcli.core.training.dynamics.DynamicsRecorder (--record-dynamics)
        self.loss_weights = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights is not None else None
        self.label_smoothing = label_smoothing
        self.weight_in_batch: float | None = None  # Σ of the label weights over the accumulated batch
        self.saving: Path | None = None  # the checkpoint folder being written, while it is
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        column = self.args.length_column_name
        if self.args.train_sampling_strategy != "group_by_length" or column not in getattr(dataset, "column_names", ()):
            return super()._get_train_sampler(train_dataset)
        # grouped by the global batch: under torchrun each rank takes its share of the same length-sorted
        # run of examples, so N processes train on the batches one process would
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * max(self.args.world_size, 1)
        return EpochLengthGroupedSampler(list(dataset[column]), batch, self.sampler_seed)

    def _get_eval_sampler(self, eval_dataset):
        column = self.args.length_column_name
        if eval_dataset is None or column not in getattr(eval_dataset, "column_names", ()):
            return super()._get_eval_sampler(eval_dataset)
        return LongestFirstSampler(list(eval_dataset[column]))

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """The Trainer's evaluation with the last layer run for [CLS] alone, the only row the head reads (same
        logits up to float rounding, a sixth less work on a 6-layer model); a compiled model keeps its graph."""
        import contextlib

        from bertcli.core.inference.cls_only import cls_only_during

        scope = contextlib.nullcontext() if self.args.torch_compile else cls_only_during(self.model)
        with scope:
            return super().evaluate(*args, **kwargs)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """The Trainer's accumulated batch, and with --class-weights the sum of its examples' weights: the
        weighted loss divides by it, as CrossEntropyLoss(weight=…) does over one batch. (Multi-label weights are
        each label's positive weight in binary cross-entropy, averaged over every label: no total to take.)"""
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        if self.loss_weights is not None and not self.multi_label:
            total = 0.0
            for batch in batch_samples:
                labels = batch.get("labels") if hasattr(batch, "get") else None
                if labels is not None:
                    labels = labels.view(-1)
                    total += float(self.loss_weights[labels[labels >= 0].cpu()].sum())
            self.weight_in_batch = total or None
        return batch_samples, num_items_in_batch

    def _save_checkpoint(self, model, trial):
        self.saving = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        super()._save_checkpoint(model, trial)
        self.saving = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The training loss: cross-entropy per example with --label-smoothing, averaged over the accumulated
        batch — with --class-weights the weighted mean Σ wᵢℓᵢ / Σ wᵢ, as torch's CrossEntropyLoss(weight=…)
        defines it, so a weighted run's logged loss reads on the scale of plain cross-entropy (ln k at chance).

        With weights all 1 and no smoothing this is the model's own mean loss for one batch. It also fixes
        gradient accumulation: a classifier takes **kwargs, so the Trainer counts its loss as already
        divided by `num_items_in_batch` — but the model's loss is a per-batch mean that ignores it, and
        with --grad-accum 2 the Trainer's own loss (and gradient) would be twice the mean. Evaluation
        keeps the plain, unweighted cross-entropy, so eval loss compares across runs.
        """
        examples = inputs.pop("example", None)
        labels = inputs.get("labels")
        if not model.training or labels is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        if self.multi_label:
            if self.dynamics is not None and examples is not None:
                self.dynamics.record(examples, logits, self.state.epoch or 0.0)
            loss = self._multi_label_loss(logits, labels.to(logits.device), num_items_in_batch)
            return (loss, outputs) if return_outputs else loss
        labels = labels.view(-1).to(logits.device)
        if self.dynamics is not None and examples is not None:
            self.dynamics.record(examples, logits.view(labels.numel(), -1), self.state.epoch or 0.0)
        per_example = torch.nn.functional.cross_entropy(
            logits.float().view(labels.numel(), -1), labels, reduction="none", label_smoothing=self.label_smoothing
        )
        if self.loss_weights is not None:
            weights = self.loss_weights.to(per_example.device)[labels]
            total = self.weight_in_batch if num_items_in_batch is not None and self.weight_in_batch else None
            loss = (per_example * weights).sum() / (total if total is not None else weights.sum())
            if total is None and num_items_in_batch is not None:  # no total known: this batch's share of the examples
                loss = loss * labels.numel() / num_items_in_batch
            return (loss, outputs) if return_outputs else loss
        if num_items_in_batch is None:  # the Trainer divides by the accumulation steps
            loss = per_example.mean()
        else:  # normalised over the whole accumulated batch: the Trainer uses it as it is
            loss = per_example.sum() / num_items_in_batch
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * self.accelerator.num_processes  # the count covered every process
        return (loss, outputs) if return_outputs else loss

    def _multi_label_loss(self, logits: Any, labels: Any, num_items_in_batch: Any) -> Any:
        """Binary cross-entropy of each label, --class-weights as each label's positive weight, averaged over
        every label of every example of the (accumulated) batch: with no weights, the model's own
        BCEWithLogitsLoss, so train and eval loss compare."""
        pos_weight = self.loss_weights.to(logits.device) if self.loss_weights is not None else None
        per_label = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), labels.float(), pos_weight=pos_weight, reduction="none"
        )
        if num_items_in_batch is None:
            return per_label.mean()
        return per_label.sum() / num_items_in_batch  # the Trainer counts every label of every example


def padding_collator(tokenizer: Any, pad_to_multiple_of: int | None):
    """Pads each batch to its longest text (not to --max-length) and passes the labels on."""
    pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = pad([{"input_ids": f["input_ids"], "labels": f["label"]} for f in features])
        if "example" in features[0]:  # --record-dynamics: which training examples these are
            batch["example"] = torch.tensor([f["example"] for f in features], dtype=torch.long)
        return batch

    return collate


def load_safetensors_weights(model: Any, folder: Path) -> None:
    """Load a checkpoint's weights into `model` from safetensors (never a pickle)."""
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    if single.is_file():
        state = load_file(str(single))
    else:
        index = json.loads((folder / "model.safetensors.index.json").read_text())
        state = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(load_file(str(folder / shard)))
    model.load_state_dict(state, strict=False)

"""Load tokenizers and sequence-classification models from the hub or a local folder (safetensors only)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bertcli.core.errors import ModelError, UsageError
from bertcli.core.hub import prepare_hub_access, unreachable

SETTINGS_FILE = "bertcli.json"
DEFAULT_MAX_LENGTH = 512
DEFAULT_TRUNCATION = "head+tail"


@dataclass
class InputSettings:
    """How texts were turned into tokens for a model; saved beside it so predict/evaluate reuse it."""

    max_length: int = DEFAULT_MAX_LENGTH
    truncation: str = DEFAULT_TRUNCATION


def is_local(name_or_path: str) -> bool:
    return Path(name_or_path).expanduser().exists()


def _resolve(name_or_path: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is local); probes the hub for hub names."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelError(f"'{name_or_path}' is not a model folder (no config.json in it) — pass a folder saved with save_pretrained")
        return str(path), True
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise ModelError(f"model folder '{name_or_path}' does not exist — check the path given to --model")
    prepare_hub_access()
    return name_or_path, False


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load_tokenizer(name_or_path: str) -> Any:
    from transformers import AutoTokenizer

    target, local = _resolve(name_or_path)
    _quiet_transformers()
    try:
        return AutoTokenizer.from_pretrained(target)
    except OSError as err:
        if not local:
            raise unreachable("model", name_or_path, "--model") from err
        raise ModelError(f"cannot load a tokenizer from '{name_or_path}': {str(err).splitlines()[0]}") from err


def load_classifier(
    name_or_path: str,
    label_names: list[str] | None = None,
    *,
    attn_implementation: str | None = "sdpa",
    attention_dropout: float | None = None,
) -> Any:
    """A sequence-classification model whose label maps read `label_names`.

    A base encoder (BertModel, MiniLM) gets a new classification head; a classifier with another
    label count gets its head replaced. Weights come from safetensors only.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    target, local = _resolve(name_or_path)
    _quiet_transformers()
    try:
        config = AutoConfig.from_pretrained(target)
    except OSError as err:
        if not local:
            raise unreachable("model", name_or_path, "--model") from err
        raise ModelError(f"cannot read the model config in '{name_or_path}': {str(err).splitlines()[0]}") from err
    except ValueError as err:
        raise ModelError(f"'{name_or_path}' is not a model transformers can load: {str(err).splitlines()[0]}") from err

    kwargs: dict[str, Any] = {}
    if label_names is not None:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
        if getattr(config, "num_labels", None) != len(label_names):
            kwargs["ignore_mismatched_sizes"] = True
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if attention_dropout is not None:
        for name in ("attention_probs_dropout_prob", "attention_dropout"):  # BERT / DistilBERT spellings
            if hasattr(config, name):
                kwargs[name] = attention_dropout
    try:
        model = AutoModelForSequenceClassification.from_pretrained(target, use_safetensors=True, **kwargs)
    except (ValueError, TypeError) as err:
        if "attn_implementation" in kwargs and "attn" in str(err).lower():
            kwargs.pop("attn_implementation")
            model = AutoModelForSequenceClassification.from_pretrained(target, use_safetensors=True, **kwargs)
        else:
            raise ModelError(f"cannot load '{name_or_path}' for sequence classification: {str(err).splitlines()[0]}") from err
    except OSError as err:
        if not local:
            raise unreachable("model", name_or_path, "--model") from err
        raise ModelError(
            f"cannot load weights from '{name_or_path}': {str(err).splitlines()[0]} — bertcli loads model.safetensors only"
        ) from err
    return model


def model_label_names(model: Any) -> list[str]:
    id2label = model.config.id2label or {}
    return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(model.config.num_labels)]


def check_max_length(model: Any, max_length: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and max_length > limit:
        raise UsageError(f"--max-length {max_length} is longer than the model's {limit} positions — use --max-length {limit}")


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def save_input_settings(folder: str | Path, settings: InputSettings, training: dict[str, Any] | None = None) -> None:
    """Write bertcli.json: the input settings, and the run's hyperparameters as plain JSON for inspection."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = asdict(settings)
    if training:
        data["training"] = training
    (Path(folder) / SETTINGS_FILE).write_text(json.dumps(data, indent=2) + "\n")


def load_input_settings(folder: str | Path, tokenizer: Any = None) -> InputSettings:
    """The settings saved with a model; for other models, the tokenizer's length and head truncation."""
    path = Path(folder) / SETTINGS_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            return InputSettings(max_length=int(data["max_length"]), truncation=str(data["truncation"]))
        except (ValueError, KeyError, TypeError):
            pass
    limit = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if not isinstance(limit, int) or limit > 100_000:
        limit = DEFAULT_MAX_LENGTH
    return InputSettings(max_length=min(limit, DEFAULT_MAX_LENGTH), truncation="head")

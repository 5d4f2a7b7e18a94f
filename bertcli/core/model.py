"""Load tokenizers and sequence-classification models from the hub or a local folder (safetensors only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from bertcli.core.errors import BertCliError, ModelError, UsageError
from bertcli.core.hub import prepare_hub_access, unreachable

DEFAULT_MAX_LENGTH = 512
DEFAULT_TRUNCATION = "head+tail"
MULTI_LABEL = "multi_label_classification"  # transformers' problem_type of a multi-label head


@dataclass
class InputSettings:
    """How texts were turned into tokens for a model; saved beside it so predict/evaluate reuse it."""

    max_length: int = DEFAULT_MAX_LENGTH
    truncation: str = DEFAULT_TRUNCATION
    stride: int | None = None  # sliding truncation: tokens consecutive windows share


# Files of a model folder that may carry an `auto_map`: the Python classes transformers would import from the folder.
CODE_MAP_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json")


def refuse_remote_code(folder: Path, name_or_path: str) -> None:
    """Refuse a model folder that names its own Python code (an `auto_map`): bertcli never runs a folder's code.

    transformers would otherwise ask "Do you wish to run the custom code? [y/N]" on stdout and read the answer
    from stdin, so a piped text could answer it. Every load also passes trust_remote_code=False; this check
    comes first so the refusal names the file instead of transformers' generic error.
    """
    from bertcli.core.runs.jsonfile import read_json_object

    for name in CODE_MAP_FILES:
        data = read_json_object(folder / name)
        auto_map = data.get("auto_map") if data else None
        if not auto_map:
            continue
        refs = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
        targets = sorted({t for ref in refs for t in (ref if isinstance(ref, (list, tuple)) else [ref]) if isinstance(t, str)})
        files = sorted({t.split("--")[-1].rsplit(".", 1)[0] + ".py" for t in targets if "." in t})
        code = ", ".join(files) if files else "code it names"
        raise ModelError(
            f"'{name_or_path}' needs its own Python code to load (auto_map in {name} points to {code}) — bertcli never "
            "runs code from a model folder; use a model of a standard architecture (e.g. bert, distilbert, roberta)"
        )


def model_source(name_or_path: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is local); probes the hub for hub names.

    A local folder that names its own Python code (auto_map) is refused here, before anything loads."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelError(f"'{name_or_path}' is not a model folder (no config.json in it) — pass a folder saved with save_pretrained")
        refuse_remote_code(path, name_or_path)
        return str(path), True
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise ModelError(f"model folder '{name_or_path}' does not exist — check the path given to --model")
    prepare_hub_access()
    return name_or_path, False




def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


# Files that hold a tokenizer's vocabulary. Without one, transformers 5 builds a stand-in from the
# special tokens alone (5 tokens for BERT) and every word becomes [UNK].
VOCABULARY_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def _check_tokenizer_files(folder: Path, name_or_path: str) -> None:
    if any((folder / name).is_file() for name in VOCABULARY_FILES):
        return
    found = [n for n in ("tokenizer_config.json", "special_tokens_map.json") if (folder / n).is_file()]
    missing = ["tokenizer.json", "vocab.txt"] + ([] if found else ["tokenizer_config.json"])
    raise ModelError(
        f"'{name_or_path}' has no usable tokenizer: {', '.join(missing)} are missing"
        + (f" (it has only {', '.join(found)})" if found else "")
        + " — copy the tokenizer files of the model it was trained from into it, "
        f"e.g. AutoTokenizer.from_pretrained(BASE_MODEL).save_pretrained('{name_or_path}')"
    )


def _config_vocab_size(target: str) -> int | None:
    from transformers import AutoConfig

    try:
        size = getattr(AutoConfig.from_pretrained(target, trust_remote_code=False), "vocab_size", None)
    except (OSError, ValueError, KeyError):
        return None
    return size if isinstance(size, int) and size > 0 else None


def check_tokenizer_fits(tokenizer: Any, name_or_path: str, embedding_rows: int | None) -> None:
    """Refuse a tokenizer of special tokens only, or one with more tokens than the model has embedding rows."""
    size = len(tokenizer)
    specials = len(set(getattr(tokenizer, "all_special_ids", []) or []))
    if specials and size <= specials:
        raise ModelError(
            f"the tokenizer of '{name_or_path}' holds only its {size} special tokens, so every word would be [UNK] — "
            "copy the tokenizer files (tokenizer.json or vocab.txt) of the model it was trained from into it"
        )
    if embedding_rows is not None and size > embedding_rows:
        raise ModelError(
            f"the tokenizer of '{name_or_path}' has {size:,} tokens but the model has only {embedding_rows:,} embedding rows — "
            "use the tokenizer the model was trained with (or resize the embeddings before training)"
        )


def _read(auto: Any, target: str, local: bool, name_or_path: str, failure: str) -> Any:
    """`auto.from_pretrained(target)`, quietly; a missing file is one error: the hub unreachable, or what
    the local folder lacks (`failure` starts the sentence, e.g. "cannot load a tokenizer from")."""
    _quiet_transformers()
    try:
        return auto.from_pretrained(target, trust_remote_code=False)
    except ValueError as err:
        if "trust_remote_code" not in str(err):
            raise
        raise ModelError(
            f"'{name_or_path}' needs its own Python code to load — bertcli never runs code from a model repository; "
            "use a model of a standard architecture (e.g. bert, distilbert, roberta)"
        ) from err
    except OSError as err:
        if not local:
            raise unreachable("model", name_or_path, "--model") from err
        raise ModelError(f"{failure} '{name_or_path}': {str(err).splitlines()[0]}") from err


def load_tokenizer(name_or_path: str) -> Any:
    """The model's tokenizer; refused when its files are missing or it has more tokens than the model's vocabulary."""
    from transformers import AutoTokenizer

    target, local = model_source(name_or_path)
    if local:
        _check_tokenizer_files(Path(target), name_or_path)
    try:
        tokenizer = _read(AutoTokenizer, target, local, name_or_path, "cannot load a tokenizer from")
    except BertCliError:
        raise
    except Exception as err:  # tokenizers raises a bare Exception for a truncated tokenizer.json
        if not local:
            raise
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"the tokenizer files in '{name_or_path}' are unreadable ({detail}) — re-copy them") from err
    check_tokenizer_fits(tokenizer, name_or_path, _config_vocab_size(target))
    return tokenizer


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file cannot be whole (its header does not parse or its size disagrees), or None."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{size:,} bytes"
        header_len = int.from_bytes(head, "little")
        if header_len > size - 8:
            return f"{size:,} bytes"
        try:
            header = json.loads(fh.read(header_len))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return f"{size:,} bytes, unreadable header"
    expected = 8 + header_len + end
    return None if expected == size else f"{size:,} bytes, {expected:,} expected"


def check_weight_files(folder: Path) -> None:
    """Refuse truncated or corrupt safetensors files (the single file, or every shard its index names)."""
    index = folder / "model.safetensors.index.json"
    names = ["model.safetensors"]
    if not (folder / "model.safetensors").is_file() and index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise ModelError(f"{index} is incomplete or corrupt — re-copy it or retrain") from None
        for name in names:
            if not (folder / name).is_file():
                raise ModelError(f"{folder / name} is missing (named in {index.name}) — re-copy the model folder or retrain")
    for name in names:
        path = folder / name
        if path.is_file():
            problem = _safetensors_problem(path)
            if problem:
                raise ModelError(f"{path} is incomplete or corrupt ({problem}) — re-copy it or retrain")


def _untrained_keys(model: Any, missing: Iterable[str]) -> list[str]:
    """The weights from_pretrained made up because the folder lacks them, the head (outside the encoder) first."""
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    return sorted(missing, key=lambda k: (prefix != "." and k.startswith(prefix), k))


def _from_pretrained(auto: Any, target: str, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(model, loading info) from safetensors; without attn_implementation where the model does not take it."""
    try:
        return auto.from_pretrained(target, use_safetensors=True, output_loading_info=True, trust_remote_code=False, **kwargs)
    except (ValueError, TypeError) as err:
        if "attn_implementation" not in kwargs or "attn" not in str(err).lower():
            raise
        kwargs.pop("attn_implementation")
        return auto.from_pretrained(target, use_safetensors=True, output_loading_info=True, trust_remote_code=False, **kwargs)


def load_classifier(
    name_or_path: str,
    label_names: list[str] | None = None,
    *,
    attn_implementation: str | None = "sdpa",
    attention_dropout: float | None = None,
    require_trained_head: bool = False,
    multi_label: bool = False,
) -> Any:
    """A sequence-classification model whose label maps read `label_names` (with `multi_label`, sigmoid
    outputs trained with binary cross-entropy: problem_type "multi_label_classification").

    A base encoder (BertModel, MiniLM) gets a new classification head (refused with
    `require_trained_head`); a classifier with another label count gets its head replaced. Weights
    come from safetensors only; truncated files and NaN/inf weights are refused.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from bertcli.core.guards import check_finite_weights

    target, local = model_source(name_or_path)
    try:
        config = _read(AutoConfig, target, local, name_or_path, "cannot read the model config in")
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
    if multi_label:
        kwargs["problem_type"] = MULTI_LABEL
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if attention_dropout is not None:
        for name in ("attention_probs_dropout_prob", "attention_dropout"):  # BERT / DistilBERT spellings
            if hasattr(config, name):
                kwargs[name] = attention_dropout
    if local:
        check_weight_files(Path(target))
    try:
        model, info = _from_pretrained(AutoModelForSequenceClassification, target, kwargs)
    except (ValueError, TypeError) as err:
        raise ModelError(f"cannot load '{name_or_path}' for sequence classification: {str(err).splitlines()[0]}") from err
    except OSError as err:
        if not local:
            raise unreachable("model", name_or_path, "--model") from err
        raise ModelError(
            f"cannot load weights from '{name_or_path}': {str(err).splitlines()[0]} — bertcli loads model.safetensors only"
        ) from err
    except Exception as err:
        if type(err).__name__ != "SafetensorError":
            raise
        raise ModelError(f"the weights in '{name_or_path}' are incomplete or corrupt ({err}) — re-copy them or retrain") from err
    untrained = _untrained_keys(model, info.get("missing_keys") or ())
    if require_trained_head and untrained:
        named = ", ".join(untrained[:4]) + (f" and {len(untrained) - 4} more" if len(untrained) > 4 else "")
        raise ModelError(
            f"'{name_or_path}' has no trained classification head ({named} not in its weights) — "
            f"train it first: bertcli train --model {name_or_path} --dataset DATA (or pass --allow-untrained-head)"
        )
    check_finite_weights(model, name_or_path)
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
    from bertcli.core.runs.manifest import RunManifest

    RunManifest.of(settings.max_length, settings.truncation, training, stride=settings.stride).write(folder)


def load_label_values(folder: str | Path, label_names: list[str]) -> list[str] | None:
    """The data's value of each label id saved with a model (labels 1–4 named World … Sci/Tech), when they are
    not the names; None for other models."""
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(folder)
    values = manifest.recorded.label_values if manifest is not None else None
    return list(values) if values and len(values) == len(label_names) else None


def load_input_settings(folder: str | Path, tokenizer: Any = None) -> InputSettings:
    """The settings saved with a model; for other models, the tokenizer's length and head truncation."""
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(folder)
    if manifest is not None and manifest.max_length is not None and manifest.truncation is not None:
        return InputSettings(max_length=manifest.max_length, truncation=manifest.truncation, stride=manifest.stride)
    limit = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if not isinstance(limit, int) or limit > 100_000:
        limit = DEFAULT_MAX_LENGTH
    return InputSettings(max_length=min(limit, DEFAULT_MAX_LENGTH), truncation="head")

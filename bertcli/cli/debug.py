"""`bertcli debug run|data|model`: parse options, call core.diagnose_*, render findings or JSON; exit 1 on errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from bertcli.cli.boundary import command
from bertcli.cli.options import (
    APP_SETTINGS,
    DatasetOpt,
    DelimiterOpt,
    EvalSizeOpt,
    EvalSplitOpt,
    HeaderOpt,
    JsonOpt,
    LabelColumnOpt,
    LabelsOpt,
    MaxLengthOpt,
    ModelOpt,
    SeedOpt,
    TextColumnOpt,
    TrainSizeOpt,
    TrainSplitOpt,
    number_option,
)
from bertcli.core import limits
from bertcli.core.runs.log import DEFAULT_SPIKE_K

app = typer.Typer(
    name="debug",
    help="Diagnose a training run, a dataset or a model: findings with evidence and the command that fixes each.",
    epilog="\b\nExamples:\n  bertcli debug run results\n  bertcli debug data --dataset imdb-sample --max-length 256",
    **APP_SETTINGS,
)


def _emit(diagnosis, json_out: bool, to_dict: Callable, render: Callable) -> None:
    """JSON or the rich rendering of a diagnosis, then exit 1 if any finding is an error."""
    from bertcli.render.output import Output

    Output(json=json_out).result(to_dict(diagnosis), lambda: render(diagnosis))
    from bertcli.core.findings import has_errors

    if has_errors(diagnosis.findings):
        raise typer.Exit(1)


def run_cmd(
    path: Annotated[
        Path,
        typer.Argument(
            help="Run folder (results/), checkpoint folder or trainer_state.json.", metavar="PATH", show_default=False
        ),
    ],
    spike_k: Annotated[
        float,
        number_option(
            "--spike-k", within=limits.SPIKE_K, help="A grad norm above median + K x MAD (median absolute deviation) is a spike."
        ),
    ] = DEFAULT_SPIKE_K,
    prune: Annotated[
        bool, typer.Option("--prune", help="Plan deleting every checkpoint but the best and the newest (dry run without --yes).")
    ] = False,
    keep: Annotated[
        int, number_option("--keep", within=limits.KEEP, help="With --prune: newest complete checkpoints kept, besides the best.")
    ] = 1,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --prune: really delete.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Diagnose a training run from its trainer_state.json and checkpoint folders.

    Overfitting (train/eval gap per epoch, the epoch to stop at), late fluctuation of the loss and
    whether grad-norm spikes line up with it, NaN/inf, a loss that does not fall or sits at ln 2,
    divergence, LR schedule anomalies, and the disk every checkpoint takes. Reads JSON only.
    --prune deletes all but the best and the newest checkpoint (numeric step order; the newest
    complete one always stays); it is a dry run until --yes. Exit code 1 when a finding is an error.

    Examples:

      bertcli debug run results

      bertcli debug run results --prune --yes
    """
    from bertcli.core.errors import UsageError
    from bertcli.core.runs.debug_run import diagnose_run
    from bertcli.core.runs.diagnosis import run_diagnosis_to_dict
    from bertcli.core.runs.disk import apply_prune, plan_prune
    from bertcli.core.runs.log import check_spike_k

    if yes and not prune:
        raise UsageError("--yes confirms --prune: add --prune (bertcli debug run PATH --prune --yes)")
    check_spike_k(spike_k)
    diagnosis = diagnose_run(path, spike_k=spike_k)
    if prune:
        if diagnosis.run_dir is None:
            raise UsageError(f"--prune needs a run folder with checkpoint-N folders; {path} is a state file on its own")
        best = diagnosis.summary.get("best_model_checkpoint")
        diagnosis.prune = plan_prune(diagnosis.run_dir, best, keep)
        if yes:
            plan = apply_prune(diagnosis.prune)
            diagnosis = diagnose_run(path, spike_k=spike_k)
            diagnosis.prune = plan
    from bertcli.render.debug import render_prune, render_run_diagnosis

    def draw(d) -> None:
        render_run_diagnosis(d)
        if d.prune is not None:
            render_prune(d.prune)

    _emit(diagnosis, json_out, run_diagnosis_to_dict, draw)


def data_cmd(
    dataset: DatasetOpt = None,
    model: Annotated[
        Optional[str],
        typer.Option("--model", "-m", help="Whose tokenizer counts the tokens: hub name or local model folder.",
                     show_default="bert-base-uncased"),
    ] = None,
    max_length: MaxLengthOpt = 512,
    text_column: TextColumnOpt = "text",
    label_column: LabelColumnOpt = "label",
    delimiter: DelimiterOpt = None,
    header: HeaderOpt = None,
    train_split: TrainSplitOpt = "train",
    eval_split: EvalSplitOpt = None,
    labels: LabelsOpt = None,
    train_size: TrainSizeOpt = "all",
    eval_size: EvalSizeOpt = "all",
    seed: SeedOpt = 42,
    lengths: Annotated[
        bool, typer.Option("--lengths/--no-lengths", help="Tokenize the train split for the token-length histogram.")
    ] = True,
    clean_to: Annotated[
        Optional[Path],
        typer.Option(
            "--clean-to",
            help="Also write a clean copy (no empties, markup, duplicates, conflicts or leaked eval rows) as JSON Lines here.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Diagnose a dataset before training on it, with the same dataset options as train.

    Label balance per split, exact and normalised duplicates, train/eval overlap (leakage), the same
    text with conflicting labels, empty texts, markup such as <br />, and a token-length histogram
    under --model's tokenizer with the share cut at --max-length and a suggested length.
    The rows are the ones bertcli train picks with the same options: an eval split carved from
    train, then --train-size/--eval-size drawn with --seed. Exit code 1 when a finding is an error.

    \b
    Examples:
      bertcli debug data --dataset imdb-sample --max-length 256
      bertcli debug data --dataset ../shared/data/imdb --train-size 2000
      bertcli debug data --dataset reviews.csv --clean-to reviews-clean
    """
    from bertcli.core.data import DataSpec, parse_size
    from bertcli.core.data.labels import parse_label_names
    from bertcli.core.defaults import resolve_sources
    from bertcli.core.diagnose.data import data_diagnosis_to_dict, diagnose_data
    from bertcli.core.diagnose.data_lengths import model_position_limit

    sources = resolve_sources(model, dataset, uses_model=lengths)
    model, dataset = sources.model, sources.dataset
    if sources.note:
        from bertcli.render.output import Output

        Output(json=json_out).hint(sources.note)

    spec = DataSpec(
        dataset, text_column=text_column, label_column=label_column, train_split=train_split, eval_split=eval_split,
        train_size=parse_size(train_size, "--train-size"), eval_size=parse_size(eval_size, "--eval-size"), seed=seed,
        label_names=parse_label_names(labels), delimiter=delimiter, header=header,
    )
    tokenizer, limit = None, None
    if lengths:
        from bertcli.core.model import load_tokenizer

        tokenizer = load_tokenizer(model)
        limit = model_position_limit(model, tokenizer)
    from bertcli.render import console_err
    from bertcli.render.activity import Phases

    with Phases(console_err(), "debug data", unit="texts") as progress:
        diagnosis = diagnose_data(
            spec, tokenizer, tokenizer_name=model, max_length=max_length, model_limit=limit, clean_to=clean_to,
            on_progress=progress,
        )
    from bertcli.render.debug import render_data_diagnosis

    _emit(diagnosis, json_out, data_diagnosis_to_dict, render_data_diagnosis)


def model_cmd(
    model: ModelOpt = None,
    max_length: MaxLengthOpt = 512,
    labels: Annotated[
        Optional[str], typer.Option("--labels", help="Comma-separated label names in id order, as you would train with.")
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", "-d", help="Take the overfit batch from this dataset's train split (default: built-in sentences)."),
    ] = None,
    text_column: TextColumnOpt = "text",
    label_column: LabelColumnOpt = "label",
    overfit: Annotated[
        bool, typer.Option("--overfit/--no-overfit", help="Run the active checks: one backward pass and the one-batch overfit.")
    ] = True,
    overfit_steps: Annotated[
        int, number_option("--overfit-steps", within=limits.OVERFIT_STEPS, help="Most training steps on the one batch.")
    ] = 50,
    overfit_lr: Annotated[
        float, number_option("--overfit-lr", within=limits.OVERFIT_LR, help="AdamW learning rate for the one-batch check.")
    ] = 1e-4,
    target_loss: Annotated[
        float, number_option("--target-loss", within=limits.TARGET_LOSS, help="The loss counted as 'near zero'.")
    ] = 0.05,
    batch_size: Annotated[int, number_option("--batch-size", "-b", within=limits.BATCH_SIZE, help="Examples in the one batch.")] = 8,
    seed: SeedOpt = 42,
    json_out: JsonOpt = False,
) -> None:
    """Check a model against its tokenizer, its labels and --max-length, and that it can learn at all.

    Vocabulary sizes, num_labels vs id2label/label2id (the LABEL_0 problem), position embeddings vs
    --max-length, parameters that get no gradient in a backward pass, and the classic sanity test:
    train on one small batch until the loss is near zero. Exit code 1 when a finding is an error.

    \b
    Examples:
      bertcli debug model --model results/final --max-length 512
      bertcli debug model --dataset imdb-sample --labels negative,positive
    """
    from bertcli.core.defaults import resolve_sources
    from bertcli.core.diagnose.model import diagnose_model, model_diagnosis_to_dict, sample_batch

    sources = resolve_sources(model, dataset, uses_dataset=False)
    model = sources.model
    if sources.note:
        from bertcli.render.output import Output

        Output(json=json_out).hint(sources.note)

    names = [s.strip() for s in labels.split(",") if s.strip()] if labels else None
    texts, source = None, "built-in sentences"
    if dataset and overfit:
        texts, data_labels = sample_batch(dataset, text_column, label_column, batch_size, seed)
        names = names or data_labels
        source = f"{dataset}, train split"
    from bertcli.render import console_err
    from bertcli.render.activity import Phases

    with Phases(console_err(), "debug model", unit="steps") as progress:
        diagnosis = diagnose_model(
            model,
            max_length=max_length,
            labels=names,
            texts=texts,
            texts_source=source,
            overfit_steps=overfit_steps,
            overfit_lr=overfit_lr,
            target_loss=target_loss,
            batch_size=batch_size,
            seed=seed,
            active=overfit,
            on_progress=progress,
        )
    from bertcli.render.debug import render_model_diagnosis

    _emit(diagnosis, json_out, model_diagnosis_to_dict, render_model_diagnosis)


command(app, "run", run_cmd, short_help="Overfitting, noise, spikes, NaN and disk of a run.")
command(app, "data", data_cmd, short_help="Labels, duplicates, leakage and lengths of a dataset.")
command(app, "model", model_cmd, short_help="Tokenizer, labels, lengths, and whether it can learn.")

"""`bertcli debug run|data|model`: parse options, call core.diagnose_*, render findings or JSON; exit 1 on errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

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
    LabelNamesOpt,
    LabelsOpt,
    MultiLabelOpt,
    MaxLengthOpt,
    ModelOpt,
    QuietOpt,
    SeedOpt,
    TextColumnOpt,
    TrainSizeOpt,
    TrainSplitOpt,
    TrainedModelOpt,
    InferenceBatchOpt,
    InferencePrecisionOpt,
    choice_option,
    examples_option,
    number_option,
)
from bertcli.core import limits
from bertcli.core.diagnose.label_queue import RANKINGS
from bertcli.core.runs.log import DEFAULT_SPIKE_K

if TYPE_CHECKING:
    from bertcli.render.output import Output

app = typer.Typer(
    name="debug",
    help="Diagnose a training run, a dataset, its labels or a model: findings with evidence and the command that fixes each.",
    epilog="\b\nExamples:\n  bertcli debug run results\n  bertcli debug data --dataset imdb-sample --max-length 256",
    **APP_SETTINGS,
)


def _emit(out: "Output", diagnosis, to_dict: Callable, render: Callable) -> None:
    """JSON or the rich rendering of a diagnosis, then exit 1 if any finding is an error."""
    from bertcli.core.findings import has_errors

    out.result(to_dict(diagnosis), lambda: render(diagnosis))

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
    quiet: QuietOpt = False,
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
    from bertcli.core.diagnose.run import diagnose_and_prune, diagnose_run
    from bertcli.core.diagnose.run_diagnosis import run_diagnosis_to_dict
    from bertcli.render.output import Output

    if yes and not prune:
        raise UsageError("--yes confirms --prune: add --prune (bertcli debug run PATH --prune --yes)")
    if prune:
        diagnosis = diagnose_and_prune(path, spike_k, keep=keep, delete=yes)
    else:
        diagnosis = diagnose_run(path, spike_k)
    from bertcli.render.debug import render_prune, render_run_diagnosis

    def draw(d) -> None:
        render_run_diagnosis(d)
        if d.prune is not None:
            render_prune(d.prune)

    _emit(Output(json=json_out, quiet=quiet), diagnosis, run_diagnosis_to_dict, draw)


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
    label_names: LabelNamesOpt = None,
    multi_label: MultiLabelOpt = False,
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
    quiet: QuietOpt = False,
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
    from bertcli.core.data import DataSpec
    from bertcli.core.data.labels import given_label_names
    from bertcli.core.defaults import resolve_sources
    from bertcli.core.diagnose.data import check_clean_to, data_diagnosis_to_dict, diagnose_data
    from bertcli.core.diagnose.data_lengths import model_position_limit

    if clean_to is not None:  # before the model and the data are looked for
        check_clean_to(Path(clean_to))

    from bertcli.render.output import Output

    out = Output(json=json_out, quiet=quiet)
    sources = resolve_sources(model, dataset, uses_model=lengths)
    model, dataset = sources.model, sources.dataset
    if sources.note:
        out.hint(sources.note)

    spec = DataSpec(
        dataset, text_column=text_column, label_column=label_column, train_split=train_split, eval_split=eval_split,
        train_size=train_size, eval_size=eval_size, seed=seed, label_names=given_label_names(labels, label_names),
        delimiter=delimiter, header=header, multi_label=multi_label,
    )
    tokenizer, limit = None, None
    if lengths:
        from bertcli.core.model import load_tokenizer

        tokenizer = load_tokenizer(model)
        limit = model_position_limit(model, tokenizer)
    from bertcli.render import console_err
    from bertcli.render.activity import Phases

    with Phases(console_err(), "debug data", enabled=out.live, unit="texts") as progress:
        diagnosis = diagnose_data(
            spec, tokenizer, tokenizer_name=model, max_length=max_length, model_limit=limit, clean_to=clean_to,
            on_progress=progress,
        )
    from bertcli.render.debug import render_data_diagnosis

    _emit(out, diagnosis, data_diagnosis_to_dict, render_data_diagnosis)


def model_cmd(
    model: ModelOpt = None,
    max_length: MaxLengthOpt = 512,
    labels: Annotated[
        Optional[str], typer.Option("--labels", help="Comma-separated label names in id order, as you would train with.")
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option(
            "--dataset", "-d",
            help="Take the overfit batch from this dataset's train split, every class in it (default: the dataset the "
            "model was trained on, where bertcli.json names one that is here; else built-in sentences).",
        ),
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
    quiet: QuietOpt = False,
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

    from bertcli.render.output import Output

    out = Output(json=json_out, quiet=quiet)
    sources = resolve_sources(model, dataset, uses_dataset=False)
    model = sources.model
    if sources.note:
        out.hint(sources.note)

    from bertcli.core.commands import data_flags
    from bertcli.core.data.labels import parse_label_names
    from bertcli.core.diagnose.model import recorded_data

    names = parse_label_names(labels)
    if dataset is None:  # the data the model was trained on, where bertcli.json names data that is here
        dataset, text_column, label_column, recorded_names = recorded_data(model, text_column, label_column)
        names = names or recorded_names
    texts, source = None, "built-in sentences"
    if dataset and overfit:
        texts, data_labels = sample_batch(dataset, text_column, label_column, batch_size, seed, names)
        names = names or data_labels
        source = f"{dataset}, train split"
    from bertcli.render import console_err
    from bertcli.render.activity import Phases

    with Phases(console_err(), "debug model", enabled=out.live, unit="steps") as progress:
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
            data_flags=data_flags(dataset, text_column=text_column, label_column=label_column) if dataset else None,
        )
    from bertcli.render.debug import render_model_diagnosis

    _emit(out, diagnosis, model_diagnosis_to_dict, render_model_diagnosis)


def labels_cmd(
    run: Annotated[
        Optional[Path],
        typer.Argument(help="A run folder: rank by its recorded training dynamics, or cross-fit it with --folds.",
                       metavar="RUN", show_default=False),
    ] = None,
    model: TrainedModelOpt = None,
    dataset: DatasetOpt = None,
    split: Annotated[str, typer.Option("--split", help="Split to check, scored by a model that did not train on it.")] = "test",
    size: Annotated[Optional[int], examples_option("--size", help="Examples drawn with --seed, or 'all'.")] = "all",
    seed: SeedOpt = 42,
    text_column: TextColumnOpt = "text",
    label_column: LabelColumnOpt = "label",
    folds: Annotated[
        Optional[int],
        number_option("--folds", within=limits.FOLDS,
                      help="Cross-fit RUN's training split: K models on RUN's recipe, each scoring the fold it did not see."),
    ] = None,
    rank_by: Annotated[
        str, choice_option("--rank-by", choices=RANKINGS, help="cleanlab's label quality score that orders the queue.")
    ] = "self_confidence",
    batch_size: InferenceBatchOpt = 32,
    precision: InferencePrecisionOpt = "auto",
    decisions: Annotated[
        Optional[Path],
        typer.Option("--decisions", help="Write the queue as a decisions file (.csv or .jsonl), every action 'keep', to edit.",
                     show_default=False),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option("--plot", help="With RUN's training dynamics: draw the data map (PNG/SVG/PDF).", show_default=False),
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Find the examples whose label is probably wrong: a ranked review queue, never a change to the data.

    With --model and --split: a trained model that did not train on that split scores it (one inference
    pass; refused on the split its run trained on). With RUN --folds K: K models on RUN's own recipe, each
    scoring the part of the training split it did not see (resumable). With RUN alone: the training dynamics
    `bertcli train --record-dynamics` recorded (low confidence, low variability: likely mislabelled).
    Confident learning (cleanlab) picks the issues. Multi-label data and models work the same way: each issue
    shows the given label set and the one the model believes, and a decisions row relabels to a label set.
    Relabel or drop nothing in a test split to raise its score.

    \b
    Examples:
      bertcli debug labels -m results/final --dataset imdb --split test
      bertcli debug labels results --folds 5 --decisions labels.csv
      bertcli debug labels results --plot data-map.png
    """
    from bertcli.core.errors import UsageError
    from bertcli.render import console_err
    from bertcli.render.activity import Phases
    from bertcli.render.output import Output

    out = Output(json=json_out, quiet=quiet)
    for path, flag in ((decisions, "--decisions"), (plot, "--plot")):
        if path is not None:
            from bertcli.core.inference.resolve import model_inputs
            from bertcli.core.outputs import check_output_path

            inputs = [("--dataset", dataset), *(model_inputs([model]) if model else [])]
            check_output_path(path, flag, example="labels.csv" if flag == "--decisions" else "data-map.png", inputs=inputs)
    if plot is not None:
        if run is None or folds is not None or model is not None:
            raise UsageError("--plot draws RUN's training dynamics: give a run folder trained with --record-dynamics, without --folds")
        from bertcli.render.evaluate import check_plotting

        check_plotting(plot)
    with Phases(console_err(), "debug labels", enabled=out.live, unit="examples") as progress:
        if folds is not None:
            if run is None:
                raise UsageError("--folds K cross-fits a run's training split: give the run folder (bertcli debug labels results --folds 5)")
            from bertcli.core.diagnose.label_folds import cross_fit_labels, plan_folds

            plan = plan_folds(run, folds)
            out.hint(plan.describe())
            diagnosis = cross_fit_labels(plan, rank_by, batch_size=batch_size or 32, on_progress=progress)
        elif run is not None and model is None and not (run / "config.json").is_file():
            from bertcli.core.diagnose.label_dynamics import diagnose_dynamics

            diagnosis = diagnose_dynamics(run)
        else:
            from bertcli.core.defaults import resolve_sources
            from bertcli.core.diagnose.labels import LabelsRequest, diagnose_labels

            sources = resolve_sources(None, dataset, uses_model=False)
            if sources.note:
                out.hint(sources.note)
            req = LabelsRequest(
                model=str(model) if model else (str(run) if run is not None else None), dataset=sources.dataset, split=split,
                size=size, seed=seed, text_column=text_column, label_column=label_column,
                batch_size=batch_size or 32, precision=precision, ranked_by=rank_by,
            )
            diagnosis = diagnose_labels(req, on_progress=progress)
    for note in diagnosis.notes:
        out.hint(note)
    if decisions is not None:
        from bertcli.core.data.decisions import write_decisions
        from bertcli.core.diagnose.label_queue import decision_records, relabel_action

        write_decisions(decisions, decision_records(diagnosis))
        out.hint(f"wrote {len(diagnosis.issues):,} decisions to {decisions}: edit each action (keep, "
                 f"{relabel_action(diagnosis.multi_label)}, drop), "
                 f"then bertcli train --relabel {decisions} --exclude {decisions}")
    if plot is not None:
        from bertcli.render.debug import save_data_map

        save_data_map(diagnosis, plot)
        out.hint(f"data map saved to {plot}")
    from bertcli.core.diagnose.label_queue import label_diagnosis_to_dict
    from bertcli.render.debug import render_label_diagnosis

    out.result(label_diagnosis_to_dict(diagnosis), lambda: render_label_diagnosis(diagnosis))


command(app, "run", run_cmd, short_help="Overfitting, noise, spikes, NaN and disk of a run.")
command(app, "data", data_cmd, short_help="Labels, duplicates, leakage and lengths of a dataset.")
command(app, "model", model_cmd, short_help="Tokenizer, labels, lengths, and whether it can learn.")
command(app, "labels", labels_cmd, short_help="Examples whose label is probably wrong, as a review queue.")

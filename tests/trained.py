"""A tiny classifier trained once per test session on the handwritten reviews, shared by predict and evaluate tests."""

from __future__ import annotations

from pathlib import Path

from factory import make_reviews, write_csv


def trained_run(tmp_path_factory, tiny_model: Path, reviews_csv: Path) -> Path:
    """The run folder (final/ plus checkpoints) of a short training on reviews_csv; trained on first use."""
    run = tmp_path_factory.getbasetemp() / "trained-tiny" / "run"
    if (run / "final" / "model.safetensors").is_file():
        return run
    from bertcli.core.training import TrainConfig, train

    train(
        TrainConfig(
            model=str(tiny_model), dataset=str(reviews_csv), output_dir=run, epochs=4, batch_size=8, lr=5e-3,
            max_length=64, train_size=None, eval_size=None, save_steps=100, logging_steps=5, tensorboard=False,
        )
    )
    return run


MISLABELLED = range(4)


def held_out_rows() -> list[tuple[str, int]]:
    """60 reviews the model never saw (another seed); the first four carry the wrong label on purpose."""
    rows = make_reviews(60, seed=7)
    return [(text, 1 - label if i in MISLABELLED else label) for i, (text, label) in enumerate(rows)]


def held_out_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.getbasetemp() / "trained-tiny" / "held_out.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(path, held_out_rows())
    return path

"""The example runs committed under results/: the only runs there the suite reads (a user's own run is not its business)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_RUNS = [REPO / "results" / name for name in ("minilm-imdb-3ep", "minilm-imdb-original-recipe")]
EXAMPLE_STATES = sorted(state for run in EXAMPLE_RUNS for state in run.glob("checkpoint-*/trainer_state.json"))

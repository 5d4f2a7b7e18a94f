"""`sweep`: variants of one training configuration, each over several seeds, and which differences are real.

A grid (from comma-separated flags or a `[sweep]` table in a TOML file) expands into one normal run folder
per variant and seed: `<output_dir>/epochs=2,weight_decay=0.05/seed-1` (plan.py). After each run its final
model is scored on the run's eval split with bertcli's inference path and the per-review correctness is stored
in `sweep_run.json` (records.py), so the comparison never needs the weights again: by default the weights and
optimizer states are then deleted. A rerun skips finished runs and resumes a killed one (run.py). Each variant
is compared with the first by exact McNemar on the pooled (review, seed) pairs: within a seed both runs saw
the same eval reviews (report.py).
"""

from bertcli.core.sweep.plan import (
    AXES,
    DEFAULT_OUTPUT,
    DEFAULT_SEEDS,
    MAX_RUNS_UNASKED,
    SweepPlan,
    SweepRun,
    examples_trained,
    flag_of,
    grid_size,
    parse_list,
    parse_seeds,
    parse_value,
    plan_sweep,
    read_sweep_file,
    value_text,
)
from bertcli.core.sweep.records import RUN_FILE, RunResult, finished_result, requested_config
from bertcli.core.sweep.report import (
    SUMMARY_FILE,
    Comparison,
    Spread,
    SweepReport,
    VariantSummary,
    compare,
    report_as_dict,
    spread,
    summarize,
)
from bertcli.core.sweep.run import (
    KEEP_IN_CHECKPOINT,
    SweepEvent,
    newest_state,
    review_key,
    run_one,
    run_sweep,
    score_final_model,
    strip_run,
)

__all__ = [
    "AXES", "DEFAULT_OUTPUT", "DEFAULT_SEEDS", "MAX_RUNS_UNASKED", "KEEP_IN_CHECKPOINT", "RUN_FILE", "SUMMARY_FILE",
    "Comparison", "RunResult", "Spread", "SweepEvent", "SweepPlan", "SweepReport", "SweepRun", "VariantSummary",
    "compare", "examples_trained", "finished_result", "flag_of", "grid_size", "newest_state", "parse_list", "parse_seeds", "parse_value",
    "plan_sweep", "read_sweep_file", "report_as_dict", "requested_config", "review_key", "run_one", "run_sweep",
    "score_final_model", "spread", "strip_run", "summarize", "value_text",
]

"""What `bertcli debug` reports about a dataset and a model, and the statistics the diagnoses share.

One home per subject: `data` / `data_lengths` / `data_findings` / `data_report` (`debug data`), `model` /
`model_findings` (`debug model`), `labels` / `label_folds` / `label_dynamics` / `label_queue` /
`label_duplicates` (`debug labels`) and `run` / `run_*` (`debug run`, built on the run readers in
`bertcli.core.runs`). Shared: `chance` (an accuracy against a classifier that
learned nothing) and `stats` (percentiles, rank correlation). Every subject reports `Finding`s
(`bertcli.core.findings`), serialised one way. The `run*` modules read JSON only: no torch, transformers or datasets.
"""

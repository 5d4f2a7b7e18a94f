"""What `bertcli debug` reports about a dataset and a model, and the statistics the diagnoses share.

`chance` (an accuracy against a classifier that learned nothing), `stats` (percentiles, rank correlation),
`data` / `data_lengths` / `data_findings` (`debug data`) and `model` / `model_findings` (`debug model`).
A run's diagnosis reads JSON only and lives with the other run readers in `bertcli.core.runs`.
"""

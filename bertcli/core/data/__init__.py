"""Datasets from the hub, a hub-layout folder, CSV/JSONL/Parquet files or an aclImdb/ folder.

files.py refuses data files that cannot be read, loading.py reads every split of a source, labels.py maps
label values to a label set, and selection.py picks the rows a command uses from a `DataSpec`.
"""

from bertcli.core.data.loading import describe_source, load_raw
from bertcli.core.data.selection import (
    CARVED,
    DataSpec,
    LabelledData,
    load_labelled_data,
    parse_size,
    select_examples,
)

__all__ = [
    "CARVED",
    "DataSpec",
    "LabelledData",
    "describe_source",
    "load_labelled_data",
    "load_raw",
    "parse_size",
    "select_examples",
]

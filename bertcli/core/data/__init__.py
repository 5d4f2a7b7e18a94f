"""Datasets from the hub, a hub-layout folder, CSV/JSONL/Parquet files or an aclImdb/ folder.

files.py refuses data files that cannot be read, loading.py reads every split of a source, labels.py maps
label values to a label set, and selection.py picks the rows a command uses from a `DataSpec`;
selection_multilabel.py does the same for label sets (multilabel.py: their columns and encodings), both on the
steps in splits.py; decisions.py applies a `debug labels` decisions file.
"""

from bertcli.core.data.loading import describe_source, load_raw
from bertcli.core.data.selection import load_labelled_data, select_examples
from bertcli.core.data.splits import CARVED, DataSpec, LabelledData, parse_size

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

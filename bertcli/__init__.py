"""bertcli: fine-tune BERT-family models for text classification and understand the run."""

__version__ = "0.1.0"

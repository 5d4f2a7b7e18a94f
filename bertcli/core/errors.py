"""Errors the core raises. Each message says what went wrong and names the fix."""


class BertCliError(Exception):
    """A problem the user can fix; the CLI prints the message on one line and exits 1."""

    exit_code = 1


class UsageError(BertCliError):
    """Options that do not fit together."""

    exit_code = 2


class DataError(BertCliError):
    """The dataset is missing, malformed or does not fit the model."""


class ModelError(BertCliError):
    """The model or tokenizer cannot be loaded or does not fit the task."""


class HubUnreachableError(BertCliError):
    """The hub cannot be reached and what was asked for is not cached."""


class CheckpointError(BertCliError):
    """A checkpoint or trainer state is missing, incomplete or unreadable."""


class DiskSpaceError(BertCliError):
    """Not enough free disk for the run."""

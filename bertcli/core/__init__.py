"""The core: plain functions that take typed arguments and return data. No typer, no rich."""

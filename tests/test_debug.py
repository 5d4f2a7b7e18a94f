"""bertcli debug: the group and its help. Each subcommand has its own file: test_debug_run.py,
test_debug_data.py, test_debug_model.py."""

from __future__ import annotations


def test_debug_help_has_examples(cli):
    for sub in ("run", "data", "model"):
        result = cli("debug", sub, "--help")
        assert result.exit_code == 0
        assert "Examples:" in result.stdout and f"bertcli debug {sub}" in result.stdout

"""The bad-input suite's one check: a refusal is a non-zero exit, no traceback, one stderr line naming the cause."""

from __future__ import annotations


def error_lines(result) -> list[str]:
    """The stderr lines of a CLI result that start with 'error:' (fails on a traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def error_line(result) -> str:
    """The one non-empty stderr line of a CLI result (fails on a traceback or several lines)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_refused(result, exit_code: int, *needles: str) -> str:
    """The command exited with `exit_code`, printed one error line on stderr containing every needle."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    line = error_line(result)
    for needle in needles:
        assert needle in line, line
    return line


def one_line_error(result) -> str:
    """The command failed with one 'error: ...' line on stderr, and not from the boundary's catch-all."""
    assert result.exit_code != 0
    line = error_line(result)
    assert "unexpected" not in line, line
    assert line.startswith("error: ")
    return line

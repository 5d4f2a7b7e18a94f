"""Every file bertcli writes for the user: checked before any work, never an input, and put in place whole.

An output that resolves (symlinks and `..` followed, hard links compared by inode) to a file the command
reads, or lies inside a folder it reads (a dataset folder, a model folder), is refused before anything is
read. Files are written to a temporary file in the same folder and renamed into place when complete, so an
interrupted write never leaves a half file where a good one was.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Tuple

from bertcli.core.errors import BertCliError, UsageError

# (the flag or name that gave the input, its path); a None path is skipped (stdin, a hub name)
Input = Tuple[str, Optional[os.PathLike | str]]


def _real(path: os.PathLike | str) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def local_inputs(inputs: Iterable[Input]) -> list[tuple[str, Path, Path]]:
    """(flag, path as given, real path) of the inputs that exist on disk."""
    found = []
    for flag, given in inputs:
        if given is None:
            continue
        path = Path(given).expanduser()
        if path.exists():
            found.append((flag, path, _real(path)))
    return found


def refuse_input_overwrite(output: os.PathLike | str, flag: str, inputs: Iterable[Input], *, folder: bool = False) -> None:
    """Refuse an output (a file, or a `folder` bertcli fills) that is, lies in, or holds one of the `inputs`."""
    target = _real(output)
    for in_flag, given, real in local_inputs(inputs):
        same = target == real
        if not same and target.exists():
            try:
                same = os.path.samefile(target, real)
            except OSError:
                same = False
        if same:
            raise UsageError(f"{flag} {output} is the input given to {in_flag} ({given}) — writing it would destroy "
                             "that input; pick another path")
        if real.is_dir() and _inside(target, real):
            raise UsageError(f"{flag} {output} lies inside {in_flag} {given}, which bertcli reads — pick a path outside it")
        if folder and _inside(real, target):
            raise UsageError(f"{flag} {output} holds {in_flag} {given}, which bertcli reads and the run would write over — "
                             "pick another folder")


def check_output_path(path: Path, flag: str, example: str = "predictions.jsonl", inputs: Sequence[Input] = ()) -> None:
    """Refuse an output file before any work: an input of the command, a folder, a parent that is a file, no write access.

    A missing parent folder is fine: it is created when the file is written.
    """
    path = Path(path).expanduser()
    refuse_input_overwrite(path, flag, inputs)
    if path.is_dir():
        raise BertCliError(f"{flag} {path} is a folder — give a file path, e.g. {path / example}")
    if path.exists() and not os.access(path, os.W_OK):
        raise BertCliError(f"cannot write {flag} {path}: permission denied — pick another path")
    for parent in (path.parent, *path.parent.parents):
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise BertCliError(f"cannot write {flag} {path}: {parent} is a file, not a folder — pick another path")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise BertCliError(f"cannot write {flag} {path}: {parent} is not writable — pick another path")
        return


def partial_file(path: Path) -> tuple[int, Path]:
    """(descriptor, path) of a new temporary file beside `path`, where its content is written before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:  # mkstemp makes it private (0600); the file it becomes gets the mode a plain open() would give
        os.fchmod(fd, 0o666 & ~_umask())
    except OSError:
        pass
    return fd, Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def settle(partial: Path, path: Path, complete: bool) -> Path:
    """Put a written temporary file in place; returns where it now lies.

    Complete: it replaces `path`. Incomplete: it takes `path` only when no file was there (nothing good is lost),
    else it stays beside it as PATH.partial, so the earlier file is untouched.
    """
    if complete or not path.exists():
        os.replace(partial, path)
        return path
    kept = path.with_name(path.name + ".partial")
    os.replace(partial, kept)
    return kept


@contextmanager
def written_whole(path: os.PathLike | str) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends without an error."""
    path = Path(path)
    fd, partial = partial_file(path)
    os.close(fd)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def write_text_whole(path: os.PathLike | str, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file renamed into place."""
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)

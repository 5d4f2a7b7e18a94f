"""Where a command's words go, held in one object: results on stdout (tables for people, one JSON document
for scripts), hints and progress on stderr (none when quiet), nothing from ranks other than 0 under torchrun."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from bertcli.render import console_err, is_main_process, print_json


@dataclass(frozen=True)
class Output:
    json: bool = False  # the result as one JSON document on stdout instead of tables
    quiet: bool = False  # no notes or live progress on stderr: the result (and errors) only

    @property
    def mode(self) -> str:
        return "json" if self.json else "quiet" if self.quiet else "human"

    @property
    def live(self) -> bool:
        """Whether live progress may be drawn on stderr."""
        return not self.quiet and is_main_process()

    def hint(self, message: str) -> None:
        """A note for the person at the terminal (rich markup allowed), on stderr; nothing when quiet."""
        if not self.quiet and is_main_process():
            console_err().print(message, highlight=False)

    def result(self, data: Any, draw: Callable[[], None]) -> None:
        """The command's result: `data` as JSON, or `draw()` for people."""
        if not is_main_process():
            return
        if self.json:
            print_json(data)
        else:
            draw()


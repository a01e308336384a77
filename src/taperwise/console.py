"""Terminal output shared by the CLI commands: Rich progress on stderr, one-line errors.

Progress goes to stderr so that a command's stdout stays clean for pipes and scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class _DeferredConsole:
    """A Rich console made on first use: importing Rich's console costs more than `taperwise --version`
    itself, and most runs of a command print only at the end. Behaves as the console it stands for."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


def _console(console: Console) -> Console:
    """The real console behind `err_console` or `out_console` (for Rich objects that keep one)."""
    return console.made() if isinstance(console, _DeferredConsole) else console


err_console = cast("Console", _DeferredConsole(stderr=True))
out_console = cast("Console", _DeferredConsole(stderr=False))


class Stages:
    """A progress display of named stages, each ticking as work is done."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._current: TaskID | None = None

    def start(self, description: str, total: float | None = None) -> None:
        if self._current is not None:
            self._progress.update(self._current, completed=self._progress.tasks[self._current].total or 1)
            self._progress.stop_task(self._current)
        self._current = self._progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        if self._current is not None:
            self._progress.advance(self._current, amount)


@contextmanager
def stages() -> Iterator[Stages]:
    # Imported here: the progress display is for long work, not for `--help` or `--version`.
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}"),
        TimeElapsedColumn(),
        console=_console(err_console),
        transient=not err_console.is_terminal,
    )
    with progress:
        tracker = Stages(progress)
        yield tracker
        tracker.start("done", total=1)


MAX_ERROR_CHARS = 2000  # an error names the problem; it never echoes a hostile megabyte back


def fail(message: str) -> None:
    """Print a one-line error to stderr (no traceback). The message is plain text, never console markup:
    a field like `doses_taken[regimen_index=0]` or a file named `a[/i].json` is printed as it is."""
    from rich.text import Text

    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + " …(cut)"
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)

"""Progress reporting for long CLI work: a Rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

logger = logging.getLogger("crossdock.progress")

PHASE_LABELS = {
    "download": "Downloading feed",
    "parse": "Parsing and storing",
    "migrate": "Migrating database",
}
PHASE_UNITS = {"migrate": "revisions"}
"""What a phase counts when it is not bytes."""


class CliProgress:
    """Implements the service's progress protocol (``phase`` then ``advance``) for a terminal or a log.

    On a TTY it draws one bar per phase; otherwise it logs a line when a phase starts and at most
    every ``log_every`` seconds after, so non-interactive output stays short.
    """

    def __init__(
        self, *, console: Console | None = None, force_plain: bool = False, log_every: float = 5.0
    ) -> None:
        self.console = console or Console(stderr=True)
        self.interactive = self.console.is_terminal and not force_plain and sys.stderr.isatty()
        self.log_every = log_every
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._phase = ""
        self._total: int | None = None
        self._last_log = 0.0

    def __enter__(self) -> CliProgress:
        if self.interactive:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def phase(self, name: str, total: int | None) -> None:
        label = PHASE_LABELS.get(name, name)
        if self._phase == name and self._task is not None and self._progress is not None:
            self._progress.update(self._task, total=total)
            return
        self._phase, self._total = name, total
        if self._progress is not None:
            if self._task is not None:
                finished = self._progress.tasks[-1]
                self._progress.update(self._task, total=finished.completed, completed=finished.completed)
            self._task = self._progress.add_task(label, total=total)
        else:
            unit = PHASE_UNITS.get(name, "bytes")
            logger.info("%s%s", label, f" ({total} {unit})" if total else "")
            self._last_log = time.monotonic()

    def advance(self, completed: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed)
            return
        now = time.monotonic()
        if now - self._last_log >= self.log_every:
            self._last_log = now
            share = f" ({completed * 100 // self._total}%)" if self._total else ""
            unit = PHASE_UNITS.get(self._phase, "bytes")
            logger.info("%s: %d %s%s", PHASE_LABELS.get(self._phase, self._phase), completed, unit, share)

"""Progress of long work (reading, validating, loading, downloading), reported by the library and
shown by whoever asked: nothing by default.

The library calls :func:`task` around work that can take a while and advances it; it never knows
how (or whether) progress is shown. The CLI installs a rich progress bar with :func:`show_with`
when stderr is a terminal; piped, quiet or with ``--log-format json`` nothing is installed and
every call here costs next to nothing.

Descriptions are shown on the terminal: they must name the work, never quote data.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterable, Iterator, Protocol, TypeVar

#: Below this many rows a stage is quick: no progress bar for it.
MIN_ROWS = 2_000
#: Below this many bytes a download is quick: no progress bar for it.
MIN_BYTES = 1 << 20

T = TypeVar("T")


class Task(Protocol):
    def advance(self, amount: float = 1) -> None: ...


class Display(Protocol):
    """What shows progress (the CLI's rich bar): one task per piece of long work."""

    def start(self, description: str, total: float | None, unit: str) -> object: ...

    def advance(self, handle: object, amount: float) -> None: ...

    def stop(self, handle: object) -> None: ...


class _Quiet:
    def advance(self, amount: float = 1) -> None:
        pass


class _Shown:
    def __init__(self, display: Display, handle: object) -> None:
        self._display = display
        self._handle = handle

    def advance(self, amount: float = 1) -> None:
        self._display.advance(self._handle, amount)


_QUIET = _Quiet()
_display: Display | None = None


def show_with(display: Display | None) -> None:
    """Show progress on ``display`` from now on (None: show nothing, the default)."""
    global _display
    _display = display


def shown() -> bool:
    """True when progress is being shown (work may skip counting otherwise)."""
    return _display is not None


@contextlib.contextmanager
def task(description: str, total: float | None = None, *, unit: str = "rows",
         minimum: float = 0) -> Iterator[Task]:
    """A piece of long work: advance the task it yields as the work goes on. ``total`` None is
    work of unknown size (a spinner). Work known to be smaller than ``minimum`` shows nothing."""
    display = _display
    if display is None or (total is not None and total < minimum):
        yield _QUIET
        return
    handle = display.start(description, total, unit)
    try:
        yield _Shown(display, handle)
    finally:
        display.stop(handle)


def counted(items: Iterable[T], progress: Task, every: int = 500) -> Iterator[T]:
    """``items``, advancing ``progress`` by one per item (in steps of ``every``)."""
    if progress is _QUIET:
        yield from items
        return
    pending = 0
    for item in items:
        yield item
        pending += 1
        if pending >= every:
            progress.advance(pending)
            pending = 0
    if pending:
        progress.advance(pending)


class RichDisplay:
    """Progress bars on a rich console (the CLI's, on stderr), shown while a task runs and gone
    when it ends (the stage events stay)."""

    def __init__(self, console) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)

        self.console = console
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                  console=console, transient=True)
        self._running = 0

    def start(self, description: str, total: float | None, unit: str) -> object:
        if not self._running:
            self._progress.start()
        self._running += 1
        return self._progress.add_task(description, total=total, unit=unit)

    def advance(self, handle: object, amount: float) -> None:
        self._progress.advance(handle, amount)

    def set_total(self, handle: object, total: float | None) -> None:
        self._progress.update(handle, total=total)

    def stop(self, handle: object) -> None:
        self._progress.remove_task(handle)
        self._running -= 1
        if not self._running:
            self._progress.stop()


# -- across a fork -------------------------------------------------------------------------------

class _PipeDisplay:
    """In a forked child (the contained reader): progress sent to the parent as JSON lines, each
    shorter than PIPE_BUF so that writes never interleave."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._next = 0

    def _send(self, *message) -> None:
        import json

        try:
            os.write(self._fd, (json.dumps(message) + "\n").encode())
        except OSError:  # the parent stopped listening: progress is not worth failing for
            pass

    def start(self, description: str, total: float | None, unit: str) -> object:
        self._next += 1
        self._send("start", self._next, description[:200], total, unit[:20])
        return self._next

    def advance(self, handle: object, amount: float) -> None:
        self._send("advance", handle, amount)

    def stop(self, handle: object) -> None:
        self._send("stop", handle)


class Relay:
    """Progress of a forked child shown here: create before the fork, call :meth:`in_child` in the
    child and :meth:`in_parent` in the parent, then :meth:`close` once the child is gone. Nothing
    at all when progress is not shown."""

    def __init__(self) -> None:
        self._display = _display
        self._fds = os.pipe() if self._display is not None else None
        self._thread = None

    def in_child(self) -> None:
        if self._fds is not None:
            os.close(self._fds[0])
            show_with(_PipeDisplay(self._fds[1]))

    def in_parent(self) -> None:
        if self._fds is None:
            return
        import threading

        os.close(self._fds[1])
        self._thread = threading.Thread(target=self._replay, name="progress-relay", daemon=True)
        self._thread.start()

    def _replay(self) -> None:
        import json

        display, handles = self._display, {}
        with os.fdopen(self._fds[0], "rb") as lines:
            for line in lines:
                try:
                    kind, number, *rest = json.loads(line)
                    if kind == "start":
                        description, total, unit = rest
                        handles[number] = display.start(str(description), total, str(unit))
                    elif kind == "advance" and number in handles:
                        display.advance(handles[number], float(rest[0]))
                    elif kind == "stop" and number in handles:
                        display.stop(handles.pop(number))
                except (ValueError, TypeError):
                    continue
        for handle in handles.values():  # the child died mid-task
            display.stop(handle)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)

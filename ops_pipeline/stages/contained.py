"""Running a reader where its crash cannot take this process with it.

python-calamine and openpyxl parse untrusted files; calamine is native code, and a hostile file
can make it abort (SIGABRT on a failed allocation) or the kernel kill it for its memory. Such a
death ends the whole process: no error line, the stage left "running", a poller stopped in the
middle of its pass. :func:`run_contained` runs the reading in a forked child: its result or its
exception comes back through a pipe, and a child that dies becomes :class:`ReaderCrashed`.
"""
from __future__ import annotations

import faulthandler
import os
import pickle
import signal
import traceback
from typing import Any, Callable

from .. import progress
from ..errors import PipelineError, ReaderCrashed


class Gate:
    """A check that runs in the parent while the child reads, and that the child waits for
    (:meth:`wait`) before it writes anything.

    The exact extent check of a large sheet takes about as long as calamine's parse, on the core
    the parse leaves idle. If the check refuses the file, the parent kills the child (which may be
    busy allocating for a hostile sheet) and raises the check's one-line error; nothing was written.
    A check that passes may answer yes or no (its return value taken as a bool): :meth:`wait`
    returns the answer.
    """

    def __init__(self, check: Callable[[], object]) -> None:
        self.check = check
        self._read, self._write = os.pipe()
        self._answer: bool | None = None

    def wait(self) -> bool:
        """In the child: the check's answer once it passed; exit if it did not."""
        if self._answer is None:
            said = os.read(self._read, 1)
            if said not in (b"0", b"1"):
                os._exit(75)  # the parent refused the file (or died): write nothing
            self._answer = said == b"1"
        return self._answer

    def _in_child(self) -> None:
        os.close(self._write)

    def _in_parent(self, pid: int) -> None:
        os.close(self._read)
        try:
            answer = self.check()
        except BaseException:
            os.close(self._write)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        try:
            os.write(self._write, b"1" if answer else b"0")
        except BrokenPipeError:  # the child is already gone: its death is reported below
            pass
        finally:
            os.close(self._write)


def run_contained(func: Callable[[], Any], *, file: str, reader: str, gate: Gate | None = None) -> Any:
    """``func()`` run in a forked child; returns its result or raises its exception here.

    A child killed by a signal, or gone without an answer, raises :class:`ReaderCrashed`. With a
    ``gate``, its check runs here meanwhile and ``func`` must call ``gate.wait()`` before writing.
    """
    read_end, write_end = os.pipe()
    relay = progress.Relay()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        relay.in_child()
        if gate is not None:
            gate._in_child()
        faulthandler.disable()  # a crash is reported by the parent, in one line
        code = 0
        try:
            try:
                payload = ("ok", func())
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                payload = ("error", _portable(exc))
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        except BaseException:  # noqa: BLE001 - unpicklable result, broken pipe: no answer
            code = 70
        finally:
            os._exit(code)
    os.close(write_end)
    relay.in_parent()
    try:
        if gate is not None:
            try:
                gate._in_parent(pid)
            except BaseException:
                os.close(read_end)
                raise
        with os.fdopen(read_end, "rb") as answer:
            data = answer.read()  # before waiting: a large answer would block the child
        _, status = os.waitpid(pid, 0)
    finally:
        relay.close()
    if os.WIFSIGNALED(status) or not data:
        raise ReaderCrashed(
            f"the {reader} reader crashed reading this file ({_death(status)}); nothing was written",
            file=file, hint="the file is probably hostile or damaged: open and re-save it in Excel"
            + (", or try --reader openpyxl" if reader == "calamine" else ""),
        )
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    raise _rebuilt(value)


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _portable(exc: BaseException) -> tuple:
    """What rebuilds ``exc`` in the parent: the exception itself when it pickles, else its class
    name and message; a PipelineError by its class and fields (its constructor takes keywords)."""
    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, PipelineError):
        return ("pipeline", type(exc), exc.message, dict(vars(exc)), trace)
    try:
        pickle.loads(pickle.dumps(exc))
        return ("exception", exc, None, None, trace)
    except Exception:  # noqa: BLE001
        return ("other", f"{type(exc).__name__}", str(exc), None, trace)


def _rebuilt(value: tuple) -> BaseException:
    kind, first, message, fields, trace = value
    if kind == "pipeline":
        exc = first.__new__(first)
        Exception.__init__(exc, message)
        exc.__dict__.update(fields)
    elif kind == "exception":
        exc = first
    else:
        exc = RuntimeError(f"{first}: {message}")
    if hasattr(exc, "add_note"):
        exc.add_note("in the reading process:\n" + trace)
    return exc

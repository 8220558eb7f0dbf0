"""The exception family and the exit codes.

Every failure the pipeline expects is a :class:`PipelineError`. The CLI has one handler that turns
it into a single line and an exit code (see ``cli.py``); library callers (behave steps, a Luigi
task, tests) catch the same classes.
"""
from __future__ import annotations

import enum

from .printable import printable


class ExitCode(enum.IntEnum):
    """The process exit codes, documented in the README."""

    OK = 0
    #: The input was read but its data failed validation (or cannot be read as that dataset).
    DATA_INVALID = 1
    #: The command line was wrong (Click's own usage errors exit 2 too).
    USAGE = 2
    #: The run could not complete: environment, database, storage, integrity or a bug.
    RUN_FAILED = 3


class PipelineError(Exception):
    """Base of every error the pipeline reports to an operator.

    Carries where it happened (stage, run, file, sheet, row, column) and a hint: the command or
    action that fixes or resumes the run. ``str(error)`` is the one-line message.
    """

    exit_code: ExitCode = ExitCode.RUN_FAILED
    code: str = "run-failed"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        stage: str | None = None,
        run_id: str | None = None,
        file: str | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.stage = stage
        self.run_id = run_id
        self.file = file
        self.sheet = sheet
        self.row = row
        self.column = column

    @property
    def location(self) -> str | None:
        """Where the problem is, as a person would look for it: ``budget.xlsx: Sheet!C14``."""
        parts = []
        if self.file:
            parts.append(self.file)
        cell = ""
        if self.sheet:
            cell = self.sheet
        if self.column or self.row:
            ref = f"{self.column or ''}{self.row or ''}"
            cell = f"{cell}!{ref}" if cell else ref
        if cell:
            parts.append(cell)
        return ": ".join(parts) if parts else None

    def one_line(self) -> str:
        """The message an operator sees: location, message and hint on one line."""
        text = self.message
        loc = self.location
        if loc and loc not in text:
            text = f"{loc}: {text}"
        if self.stage and not text.startswith(self.stage):
            text = f"{self.stage}: {text}"
        if self.hint:
            text = f"{text} (hint: {self.hint})"
        # A file, sheet or S3 key name may hold control characters: shown escaped, on one line.
        return printable(" ".join(text.split()))

    def as_dict(self) -> dict:
        """The error as recorded in the manifest."""
        data = {"code": self.code, "message": self.message}
        for key in ("hint", "file", "sheet", "row", "column"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


class DataInvalid(PipelineError):
    """The data was read but is not acceptable (rows rejected, required columns missing)."""

    exit_code = ExitCode.DATA_INVALID
    code = "data-invalid"


class UnreadableFile(DataInvalid):
    """The file cannot be read as the dataset at all: not a workbook, broken, encrypted..."""

    code = "unreadable-file"


class EncryptedFile(UnreadableFile):
    code = "encrypted-file"


class LimitExceeded(UnreadableFile):
    """The file exceeds a configured safety limit (size, rows, columns, cells, text length...)."""

    code = "limit-exceeded"


class ReaderCrashed(PipelineError):
    """A spreadsheet reader died while reading the file (killed by a signal: an abort in native
    code, out of memory). The file is not known to be invalid: the program failed on it."""

    code = "reader-crashed"


class UsageError(PipelineError):
    """The operator asked for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE
    code = "usage"


class StageNotReady(PipelineError):
    """A stage was asked to run before the stage it depends on succeeded."""

    code = "stage-not-ready"


class IntegrityError(PipelineError):
    """A staged file no longer matches the checksum recorded when it was written."""

    code = "integrity"


class DatabaseError(PipelineError):
    """The database cannot be reached, has no schema, or refused the load."""

    code = "database"


class SchemaMissing(DatabaseError):
    code = "schema-missing"


class ConcurrentLoad(DatabaseError):
    code = "concurrent-load"


class StorageError(PipelineError):
    """Object storage cannot be reached or refused a request."""

    code = "storage"


class NotifyError(PipelineError):
    """A notification could not be sent securely."""

    code = "notify"


def operator_line(error: BaseException, urls=()) -> str:
    """The one line an operator is shown for ``error`` (the CLI prints it after ``error:``; a
    Luigi task fails with it): no known secret (database password, S3, SMTP or webhook secret,
    the ``urls``' passwords), no e-mail address, phone number or SSN, control characters escaped.
    An unexpected exception (a bug) is named with its type and its message minus what it quotes."""
    from .redact import known_secrets, safe_reason, scrub_secrets, scrub_text

    def safe(text: str) -> str:
        return printable(scrub_secrets(scrub_text(text), known_secrets(urls=urls)))

    if isinstance(error, PipelineError):
        return safe(error.one_line())
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return (f"internal error: {safe(f'{type(error).__name__}: {safe_reason(error, 300)}')} "
            "(rerun with --debug for the traceback)")

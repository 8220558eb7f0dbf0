"""Judging data rows for validate: each row becomes a verdict (blank, skipped, valid, rejected).

A :class:`RowJudge` judges rows in order and :func:`judge_into` files the verdicts. A large sheet
that the reader holds in memory (calamine) is judged in chunks of rows by two worker processes,
forked once the sheet is parsed so that they read its rows themselves: this process only writes
what they return, in order. A worker knows the unique keys (budget ids) seen before it was forked
and in its own chunk, not those of the chunks other workers judged: a chunk that repeats one of
them, or that runs past a size limit counted over the whole sheet, is judged again here, in order,
with everything before it known. The output is byte for byte that of judging every row here
(tested).
"""
from __future__ import annotations

import gc
import itertools
import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import orjson

from ..datasets.base import Problem
from ..errors import LimitExceeded
from ..findings import ERROR, make_finding
from ..rules import RuleViolation
from ..rules.text import check_cell_text, control_character

#: Sheets with fewer data rows are judged here (starting a process costs more than it saves).
PARALLEL_MIN_ROWS = 5_000
WORKERS = 2
CHUNK_ROWS = 5_000
#: Chunks judged or waiting to be written at once (bounds the memory they hold).
IN_FLIGHT = 6

_DUMP_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _dump(record) -> bytes:
    return orjson.dumps(record, default=str, option=_DUMP_OPTIONS)


class RowJudge:
    """Turns one data row into a verdict, keeping the dataset's cross-row state."""

    def __init__(self, dataset, table, *, date1904: bool, max_chars: int, display_name: str):
        self.dataset = dataset
        self.table = table
        self.sheet = table.sheet
        self.pii = dataset.pii_fields()
        self.codes = dataset.codes()
        self.letters = table.letters()
        self.state = {"date1904": date1904}
        self.max_chars = max_chars
        #: A skipped row keeps its amount (a totals row's is what the report reconciles with).
        self.amount_field = (dataset.money or (None,))[0]
        self.display_name = display_name
        self.quick = _without_control_characters(dataset.quick_check(table, self.state, max_chars))

    def judge(self, row_number: int, values: tuple) -> tuple:
        """``("blank",)``, ``("skip", reason, amount)``, or ``(kind, record_line, finding_lines, codes, keys)``
        where kind is ``valid`` or ``rejected``, lines are JSON Lines bytes, codes the findings'
        codes and keys the row's values that must be unique in the file."""
        if values and self.quick is not None:
            parsed = self.quick(values, row_number)
            if parsed is not None:
                return ("valid", _dump({"row": row_number, "values": parsed}), (), (), self.dataset.row_keys(parsed))
        return self.judge_fully(row_number, values)

    def judge_fully(self, row_number: int, values: tuple) -> tuple:
        """:meth:`judge` without the dataset's fast path."""
        if not values:
            return ("blank",)
        dataset = self.dataset
        mapped = dataset.row_values(self.table, values)
        for text in mapped.values():
            if text.__class__ is str and len(text) > self.max_chars:
                raise LimitExceeded(f"a cell holds more than {self.max_chars:,} characters",
                                    file=self.display_name, sheet=self.sheet, row=row_number,
                                    hint="raise OPS_PIPELINE_MAX_CELL_CHARS if the file is genuine")
        reason = dataset.skip_reason(mapped)
        if reason == "blank row":
            return ("blank",)
        if reason:
            amount = mapped.get(self.amount_field) if self.amount_field else None
            return ("skip", reason, amount)
        self.state["row"] = row_number
        parsed, problems = dataset.check_row(mapped, self.state)
        controls = _control_problems(mapped)
        if controls:
            # The control character is the cell's finding; what the column's rule says of the
            # rest of the cell would only blur it.
            fields = {p.field for p in controls}
            problems = controls + [p for p in problems if p.field not in fields]
        keys = dataset.row_keys(parsed)
        if not problems:
            return ("valid", _dump({"row": row_number, "values": parsed}), (), (), keys)
        errors = 0
        lines = []
        for problem in problems:
            finding = make_finding(
                problem.code, problem.message, value=problem.value, pii=problem.field in self.pii, codes=self.codes,
                sheet=self.sheet, row=row_number, column=self.letters.get(problem.field), field=problem.field,
            )
            errors += finding.severity == ERROR
            lines.append(_dump(finding.as_dict()))
        codes = sorted({p.code for p in problems})
        if errors:
            return ("rejected", _dump({"row": row_number, "codes": codes, "values": mapped}), lines, codes, keys)
        return ("valid", _dump({"row": row_number, "values": parsed}), lines, codes, keys)


def _control_problems(mapped: dict) -> list:
    """A control-character problem for each text cell holding one, in any column: the same rule
    for every dataset, before anything can reach the database (PostgreSQL refuses NUL)."""
    problems = []
    for name, value in mapped.items():
        if value.__class__ is str and not value.isprintable():
            try:
                check_cell_text(value)
            except RuleViolation as violation:
                problems.append(Problem(violation.code, violation.message, name, value))
    return problems


def _without_control_characters(quick):
    """The dataset's fast path, leaving any row with a control character in a cell to the full
    path (which makes it a finding); as it is when it says it checks each string cell itself
    (cheaper than a second look at every cell)."""
    if quick is None or getattr(quick, "checks_control_characters", False):
        return quick

    def checked(values: tuple, row_number: int):
        for value in values:
            if value.__class__ is str and not value.isprintable() and control_character(value) is not None:
                return None
        return quick(values, row_number)

    return checked


@dataclass
class Outputs:
    """Where verdicts go: the stage's JSON Lines writers, or a chunk's lists (anything with
    ``write_line``), with the counts of rows and of rows per finding code."""

    valid: object
    rejected: object
    skipped: object
    findings: object
    counts: dict = field(default_factory=lambda: {"valid": 0, "rejected": 0, "skipped": 0})
    by_code: dict = field(default_factory=dict)
    #: blank rows not yet filed: they are data rows (skipped) only when a row follows them
    blanks: list = field(default_factory=list)
    #: (key, row) of the rows' unique keys, collected for a chunk's caller to check (when a list)
    keys: list | None = None


def judge_into(judge: RowJudge, rows: Iterable[tuple[int, tuple]], out: Outputs) -> None:
    """Judge rows in order and file each verdict in ``out``.

    The unique keys of rows that take the dataset's fast path are in ``judge.state["seen"]``;
    ``out.keys`` (when a list) collects those of the other rows.
    """
    counts, by_code, blanks, keys = out.counts, out.by_code, out.blanks, out.keys
    quick = judge.quick
    write_valid = out.valid.write_line
    dumps, options = orjson.dumps, _DUMP_OPTIONS
    plain = 0  # valid rows of the fast path
    try:
        for row_number, values in rows:
            if quick is not None and values:
                parsed = quick(values, row_number)
                if parsed is not None:
                    if blanks:
                        _file_blanks(out)
                    write_valid(dumps({"row": row_number, "values": parsed}, default=str, option=options))
                    plain += 1
                    continue
            verdict = judge.judge_fully(row_number, values)
            kind = verdict[0]
            if kind == "blank":
                blanks.append(row_number)
                continue
            if blanks:
                _file_blanks(out)
            if kind == "skip":
                record = {"row": row_number, "reason": verdict[1]}
                if len(verdict) > 2 and verdict[2] is not None:
                    record["amount"] = verdict[2]
                out.skipped.write_line(_dump(record))
                counts["skipped"] += 1
                continue
            _, line, finding_lines, codes, row_keys = verdict
            for finding_line in finding_lines:
                out.findings.write_line(finding_line)
            for code in codes:
                by_code[code] = by_code.get(code, 0) + 1
            if row_keys and keys is not None:
                for key in row_keys:
                    keys.append((key, row_number))
            if kind == "rejected":
                out.rejected.write_line(line)
                counts["rejected"] += 1
            else:
                write_valid(line)
                counts["valid"] += 1
    finally:
        counts["valid"] += plain


def _file_blanks(out: Outputs) -> None:
    """Blank rows followed by a row are data rows: skipped, and said so."""
    out.skipped.write_lines([_dump({"row": blank, "reason": "blank row"}) for blank in out.blanks])
    out.counts["skipped"] += len(out.blanks)
    out.blanks.clear()


# -- chunks judged by worker processes ----------------------------------------------------------

class _Lines(list):
    write_line = list.append
    write_lines = list.extend


@dataclass
class Chunk:
    first: int
    last: int
    out: Outputs
    cells: int = 0
    #: why the chunk must be judged again here (a limit was hit...), or None
    redo: str | None = None


def judge_in_chunks(judge: RowJudge, row_reader, first: int, last: int, out: Outputs, check_size,
                    advance: Callable[[float], None] = lambda rows: None) -> None:
    """Judge rows ``first`` to ``last`` in chunks in worker processes; file the verdicts in ``out``.

    ``row_reader()`` gives a new reader of the sheet's rows (see Workbook.row_reader);
    ``check_size(rows, cells_before)`` checks rows against the size limits, counting cells on from
    ``cells_before``: it raises :class:`LimitExceeded` past one, else returns the cells counted.
    ``advance(rows)`` is told of each chunk filed (progress).
    """
    seen = judge.state.setdefault("seen", {})

    def file(chunk: Chunk, cells: int) -> int:
        cells = _file_chunk(chunk, judge, row_reader, check_size, out, seen, cells)
        advance(chunk.last - chunk.first + 1)
        return cells

    cells = 0
    pending: deque = deque()
    context = multiprocessing.get_context("fork")  # each worker starts as a copy of this process
    # The objects this process has now are the workers' too, shared copy-on-write; the garbage
    # collector would touch (and so copy) every page of them in each worker: keep it off them.
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context, initializer=_adopt,
                                 initargs=(judge, row_reader, check_size)) as pool:
            try:
                for start in range(first, last + 1, CHUNK_ROWS):
                    pending.append(pool.submit(_judge_chunk, start, min(start + CHUNK_ROWS - 1, last)))
                    while len(pending) >= IN_FLIGHT:
                        cells = file(pending.popleft().result(), cells)
                while pending:
                    cells = file(pending.popleft().result(), cells)
            finally:
                for future in pending:
                    future.cancel()
    finally:
        gc.unfreeze()


def _file_chunk(chunk: Chunk, judge: RowJudge, row_reader, check_size, out: Outputs, seen: dict,
                cells: int) -> int:
    """File a worker's chunk in ``out``; returns the cells counted so far."""
    theirs = chunk.out
    redo = chunk.redo is not None or any(key in seen for key, _ in theirs.keys)
    if not redo:
        try:
            check_size((), cells + chunk.cells)  # the cell limit counts over the whole sheet
        except LimitExceeded:
            redo = True
    if redo:
        # Judge it again here, where every row before it is known: the same verdicts, or the
        # duplicate or the limit found at its row.
        rows = row_reader().between(chunk.first, chunk.last)
        cells = check_size(rows, cells)
        judge_into(judge, rows, out)
        return cells
    if out.blanks and (theirs.valid or theirs.rejected or theirs.skipped):
        _file_blanks(out)  # blank rows before this chunk, which has rows after them
    for name in ("valid", "rejected", "skipped", "findings"):
        getattr(out, name).write_lines(getattr(theirs, name))
    for name, count in theirs.counts.items():
        out.counts[name] += count
    for code, count in theirs.by_code.items():
        out.by_code[code] = out.by_code.get(code, 0) + count
    out.blanks.extend(theirs.blanks)
    for key, row in theirs.keys:
        seen.setdefault(key, row)
    return cells + chunk.cells


_worker: dict = {}


def _adopt(judge: RowJudge, row_reader, check_size) -> None:
    _worker.update(judge=judge, row_reader=row_reader, check_size=check_size, reader=None)


def _judge_chunk(first: int, last: int) -> Chunk:
    # A worker's chunks come in order: its reader goes on from where the last one ended.
    reader = _worker["reader"]
    if reader is None:
        reader = _worker["reader"] = _worker["row_reader"]()
    rows = reader.between(first, last)
    judge = _worker["judge"]
    chunk = Chunk(first, last, Outputs(_Lines(), _Lines(), _Lines(), _Lines(), keys=[]))
    seen = judge.state.setdefault("seen", {})
    known = len(seen)
    try:
        chunk.cells = _worker["check_size"](rows, 0)
        judge_into(judge, rows, chunk.out)
    except LimitExceeded as exc:
        chunk.redo = exc.message
    # the keys this chunk's rows met first (seen keeps its order), besides those judge_into listed
    chunk.out.keys.extend(itertools.islice(seen.items(), known, None))
    return chunk

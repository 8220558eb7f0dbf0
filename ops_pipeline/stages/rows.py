"""Judging data rows for validate: each row becomes a verdict (blank, skipped, valid, rejected).

The verdicts are computed in order by a :class:`RowJudge`. Large sheets hand the judging to one
worker process after the first rows: the worker is forked from the judge, so it inherits what the
judge has learned (memoised cells, budget ids seen so far), and it judges the remaining rows in
order while this process reads the workbook and writes the results. The output is byte for byte
the same as judging everything here; it just uses the second core.
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator

import orjson

from ..errors import LimitExceeded
from ..findings import ERROR, column_letter, make_finding

#: Rows judged here before a worker takes over (small files never start a process).
SEQUENTIAL_ROWS = 20_000
BATCH = 2_000
IN_FLIGHT = 4

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
        self.letters = {f: column_letter(i) for f, i in table.positions.items()}
        self.state = {"date1904": date1904}
        self.max_chars = max_chars
        self.display_name = display_name

    def judge(self, row_number: int, values: tuple) -> tuple:
        """``("blank",)``, ``("skip", reason)``, or ``(kind, record_line, finding_lines, codes)`` where
        kind is ``valid`` or ``rejected``, lines are JSON Lines bytes and codes the findings' codes."""
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
            return ("skip", reason)
        self.state["row"] = row_number
        parsed, problems = dataset.check_row(mapped, self.state)
        if not problems:
            return ("valid", _dump({"row": row_number, "values": parsed}), (), ())
        errors = 0
        lines = []
        for problem in problems:
            finding = make_finding(
                problem.code, problem.message, value=problem.value, pii=problem.field in self.pii,
                sheet=self.sheet, row=row_number, column=self.letters.get(problem.field), field=problem.field,
            )
            errors += finding.severity == ERROR
            lines.append(_dump(finding.as_dict()))
        codes = sorted({p.code for p in problems})
        if errors:
            return ("rejected", _dump({"row": row_number, "codes": codes, "values": mapped}), lines, codes)
        return ("valid", _dump({"row": row_number, "values": parsed}), lines, codes)


def judge_rows(judge: RowJudge, rows: Iterable[tuple[int, tuple]], *, parallel: bool = True,
               sequential_rows: int | None = None) -> Iterator[tuple[int, tuple]]:
    """Yield ``(row_number, verdict)`` for every row, in order."""
    if sequential_rows is None:
        sequential_rows = SEQUENTIAL_ROWS
    rows = iter(rows)
    for count, (row_number, values) in enumerate(rows, start=1):
        yield row_number, judge.judge(row_number, values)
        if parallel and count >= sequential_rows:
            break
    else:
        return
    yield from _judge_in_worker(judge, rows)


# -- the worker ----------------------------------------------------------------------------------

_worker_judge: RowJudge | None = None


def _adopt(judge: RowJudge) -> None:
    global _worker_judge
    _worker_judge = judge


def _judge_batch(batch: list) -> list:
    judge = _worker_judge
    out = []
    for row_number, values in batch:
        try:
            out.append((row_number, judge.judge(row_number, values)))
        except LimitExceeded as error:  # keyword-only fields do not survive pickling: send them
            out.append((row_number, ("limit", error.message, error.as_dict())))
            break
    return out


def _judge_in_worker(judge: RowJudge, rows: Iterator) -> Iterator[tuple[int, tuple]]:
    # fork: the worker starts as a copy of this process, judge state included, with no pickling.
    context = multiprocessing.get_context("fork")
    pending: deque = deque()
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_adopt, initargs=(judge,)) as pool:
        try:
            batch = []
            for item in rows:
                batch.append(item)
                if len(batch) >= BATCH:
                    pending.append(pool.submit(_judge_batch, batch))
                    batch = []
                    while len(pending) >= IN_FLIGHT:
                        yield from _unpack(pending.popleft().result(), judge)
            if batch:
                pending.append(pool.submit(_judge_batch, batch))
            while pending:
                yield from _unpack(pending.popleft().result(), judge)
        finally:
            for future in pending:
                future.cancel()


def _unpack(results: list, judge: RowJudge) -> Iterator[tuple[int, tuple]]:
    for row_number, verdict in results:
        if verdict[0] == "limit":
            info = verdict[2]
            raise LimitExceeded(verdict[1], file=info.get("file"), sheet=info.get("sheet"), row=info.get("row"),
                                hint=info.get("hint"))
        yield row_number, verdict

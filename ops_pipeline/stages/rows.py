"""Judging data rows for validate: each row becomes a verdict (blank, skipped, valid, rejected).

The verdicts are computed in order by a :class:`RowJudge`. Large sheets hand the judging to two
worker processes after the first rows, so that all cores work while this process reads the
workbook and writes the results. The workers are forked from the judge, so they inherit what it
has learned (memoised cells, the keys seen so far); a key that must be unique across rows (a
budget id) and that a worker could not know about is settled here: the row is judged again in
this process, in order, with every key seen so far. The output is byte for byte the same as
judging everything here (tested).
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator

import orjson

from ..errors import LimitExceeded
from ..findings import ERROR, column_letter, make_finding

#: Rows judged here before the workers take over (small files never start a process).
SEQUENTIAL_ROWS = 5_000
WORKERS = 2
BATCH = 2_000
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
        self.letters = {f: column_letter(i) for f, i in table.positions.items()}
        self.state = {"date1904": date1904}
        self.max_chars = max_chars
        self.display_name = display_name

    def judge(self, row_number: int, values: tuple) -> tuple:
        """``("blank",)``, ``("skip", reason)``, or ``(kind, record_line, finding_lines, codes, keys)``
        where kind is ``valid`` or ``rejected``, lines are JSON Lines bytes, codes the findings'
        codes and keys the row's values that must be unique in the file."""
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
        keys = dataset.row_keys(parsed)
        if not problems:
            return ("valid", _dump({"row": row_number, "values": parsed}), (), (), keys)
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
            return ("rejected", _dump({"row": row_number, "codes": codes, "values": mapped}), lines, codes, keys)
        return ("valid", _dump({"row": row_number, "values": parsed}), lines, codes, keys)


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
    # fork: each worker starts as a copy of this process, judge state included, with no pickling.
    context = multiprocessing.get_context("fork")
    pending: deque = deque()
    seen = judge.state.setdefault("seen", {})
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context, initializer=_adopt,
                             initargs=(judge,)) as pool:
        try:
            batch = []
            for item in rows:
                batch.append(item)
                if len(batch) >= BATCH:
                    pending.append((pool.submit(_judge_batch, batch), batch))
                    batch = []
                    while len(pending) >= IN_FLIGHT:
                        yield from _settle(*pending.popleft(), judge, seen)
            if batch:
                pending.append((pool.submit(_judge_batch, batch), batch))
            while pending:
                yield from _settle(*pending.popleft(), judge, seen)
        finally:
            for future, _ in pending:
                future.cancel()


def _settle(future, batch: list, judge: RowJudge, seen: dict) -> Iterator[tuple[int, tuple]]:
    """A worker's verdicts, in order, with unique keys checked against every row before them."""
    results = future.result()
    for (row_number, verdict), (_, values) in zip(results, batch):
        if verdict[0] == "limit":
            info = verdict[2]
            raise LimitExceeded(verdict[1], file=info.get("file"), sheet=info.get("sheet"), row=info.get("row"),
                                hint=info.get("hint"))
        if len(verdict) == 5 and verdict[4]:
            if any(key in seen for key in verdict[4]):
                # A repeat, perhaps of a row the worker never saw: judge it here, where every key
                # before it is known (judge() records nothing new for a repeated key).
                verdict = judge.judge(row_number, values)
            else:
                for key in verdict[4]:
                    seen[key] = row_number
        yield row_number, verdict

"""The ids OPS gave a run's new lines, written back into a copy of the workbook that was submitted.

A row submitted without an id (``Sys_Budget_ID`` blank or ``new``) became a line in OPS with an
id the workbook does not know; submitted again, the row would be matched only by its cells (or
become a second line once they change). The write-back closes the loop: the run's lineage gives
each such row's line id, and a copy of the fetched workbook gets those ids in the id cells of those
rows, with nothing else changed (:mod:`ops_pipeline.writers.cells` says how, and why not openpyxl).
Submitting the copy again finds every line by its id: all unchanged.

Rows without an id that the load matched to lines OPS already had (the same CAN, agreement,
description, date and amount) get those lines' ids too: it is the same loop.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from .budget_export import private_output
from .datasets.registry import get_dataset
from .errors import UsageError
from .rundir import RunDir, read_json, read_jsonl
from .stages.fetch import source_file
from .stages.transform import entity_file


#: What a write-back can write into: a copy of a workbook of these kinds.
WRITES_INTO = (".xlsx", ".xlsm")


def rows_without_id(run: RunDir, entity: str, key: str) -> set[int]:
    """The sheet rows whose staged ``entity`` record has no ``key`` (a new row)."""
    rows = set()
    for record in read_jsonl(run.path / "transform" / entity_file(entity)):
        if not (record.get("key") or {}).get(key):
            rows.update(_rows((record.get("lineage") or {}).get("rows", "")))
    return rows


def _rows(text: str) -> list[int]:
    result = []
    for part in str(text).split(","):
        first, _, last = part.strip().partition("-")
        if first.isdigit():
            result.extend(range(int(first), int(last or first) + 1))
    return result


def line_ids(db_url: str | None, run: RunDir, entity: str) -> dict[int, int]:
    """Sheet row → the id of the ``entity`` record the run loaded from it (its lineage)."""
    from .db.engine import connected, resolve_url
    from .db.models import Lineage

    table = Lineage.__table__
    result: dict[int, int] = {}
    with connected(resolve_url(db_url)) as conn:
        query = select(table.c.entity_id, table.c.rows).where(table.c.run_id == run.run_id,
                                                              table.c.entity == entity)
        for entity_id, rows in conn.execution_options(stream_results=True, yield_per=10000).execute(query):
            for row in _rows(rows):
                result[row] = entity_id
    return result


def write_back(run: RunDir, output: Path | str, *, db_url: str | None = None) -> dict:
    """Write a copy of the run's workbook to ``output`` (0600, atomically) with the ids of the
    lines it loaded from rows without one filled into their id cells.

    Returns ``{"path", "sheet", "column", "written", "formulas", "missing_rows"}``: the number
    of cells written, the rows left alone because their id cell holds a formula, and rows the
    lineage names that the sheet no longer has (none, unless the fetched copy was changed).
    """
    output = Path(output)
    dataset = get_dataset(run.dataset)
    target = getattr(dataset, "writes_back", None)
    if target is None:
        raise UsageError(f"dataset {run.dataset} has no id column to write back into")
    entity, field = target
    if run.status("load") != "succeeded":
        raise UsageError(f"run {run.run_id} has not been loaded: OPS has given its lines no ids yet",
                         hint=f"ops-pipeline load {run.path}")
    source = source_file(run)
    if source.suffix.lower() not in WRITES_INTO:
        raise UsageError(f"{source.name}: ids can be written back into .xlsx and .xlsm workbooks only")
    if output.suffix.lower() != source.suffix.lower():
        raise UsageError(f"--output must end in {source.suffix.lower()} like the submitted workbook, "
                         f"not {output.name!r}")
    summary = read_json(run.path / "validate" / "summary.json")
    sheet, column = summary.get("sheet"), (summary.get("columns") or {}).get(field)
    if column is None:
        header = dataset.column(field).header
        raise UsageError(f"{sheet}: the sheet has no {header} column to write the ids into",
                         hint=f"add a {header} column to the workbook and submit it again")
    wanted = rows_without_id(run, entity, field)
    ids = {row: line for row, line in line_ids(db_url, run, entity).items() if row in wanted}
    from .writers.cells import write_numbers

    with private_output(output) as handle:
        result = write_numbers(source, handle, sheet, column, ids)
    return {"path": str(output), "run": run.run_id, "sheet": sheet, "column": column,
            "written": len(result["written"]), "formulas": result["formulas"],
            "missing_rows": result["missing_rows"]}

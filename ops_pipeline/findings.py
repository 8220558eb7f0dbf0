"""Validation findings: data, not exceptions.

A finding has a stable code, a severity, a cell reference a person can find
(``All Budget - Cur!H14``), a message and the offending value, masked for PII columns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields

from .printable import printable
from .redact import mask_value, scrub_text

ERROR, WARNING, INFO = "error", "warning", "info"
#: The "sheets" that are text files (MAPS exports, see readers.tsv): their cells are file:line:COLUMN.
TEXT_FILE_SUFFIXES = (".tsv", ".txt", ".tab")

#: The finding codes of every dataset, with their severity and what they mean. A dataset declares
#: its own codes (``Dataset.finding_codes``); the catalogue of datasets registers them beside these.
CODES: dict[str, tuple[str, str]] = {
    "no-header": (ERROR, "no sheet has a header row with the dataset's columns"),
    "missing-column": (ERROR, "a required column is not in the header"),
    "duplicate-column": (ERROR, "two header cells name the same column"),
    "mixed-layout": (ERROR, "the header row mixes the columns of two layouts of the file"),
    "extra-column": (INFO, "a column the dataset does not use (ignored)"),
    "missing-value": (ERROR, "a required cell is empty"),
    "bad-date": (ERROR, "not a date"),
    "bad-amount": (ERROR, "not an amount"),
    "amount-out-of-range": (ERROR, "amount beyond numeric(12,2)"),
    "too-long": (ERROR, "text longer than the database column"),
    "bad-text": (ERROR, "a text cell holds a number, date or error"),
    "cell-error": (ERROR, "the cell holds a spreadsheet error such as #REF!"),
    "control-character": (ERROR, "a cell holds a control character (such as NUL), which OPS does not store"),
    "other-table-sheet": (WARNING, "another sheet also holds the dataset's table (not read)"),
    # the report's, about the money
    "totals-mismatch": (WARNING, "the workbook's totals row does not equal the total of the lines loaded"),
    # the load's, about what OPS holds
    "unresolved-link": (WARNING, "a record refers to another that OPS does not have"),
    "can-without-portfolio": (WARNING, "a CAN OPS does not have and whose portfolio is unknown is not created"),
    "cannot-load": (ERROR, "OPS cannot take the record as it is"),
    "not-created": (WARNING, "a record OPS does not have cannot be created from the file (OPS needs more)"),
}

SEVERITIES = (ERROR, WARNING, INFO)


class UnregisteredCode(LookupError):
    """A finding with a code nobody registered: a programming error, never the data's fault."""

    def __init__(self, code: str):
        super().__init__(f"finding code {code!r} is not registered: add it to findings.CODES (any dataset) "
                         "or to the dataset's finding_codes")
        self.code = code


def merge_codes(*tables: dict[str, tuple[str, str]], owners: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """The generic codes and each table's, in one mapping. A code may be declared twice only with
    the same severity and meaning; a severity must be one of :data:`SEVERITIES`. ``owners`` names
    each table (for the message)."""
    merged = dict(CODES)
    origin = {code: "findings.CODES" for code in CODES}
    for index, table in enumerate(tables):
        owner = owners[index] if index < len(owners) else f"table {index + 1}"
        for code, entry in table.items():
            severity, _ = entry
            if severity not in SEVERITIES:
                raise ValueError(f"{owner}: finding code {code!r} has severity {severity!r}, "
                                 f"not one of {', '.join(SEVERITIES)}")
            if code in merged and merged[code] != tuple(entry):
                raise ValueError(f"{owner}: finding code {code!r} is already registered by {origin[code]} "
                                 "with another severity or meaning")
            merged[code] = tuple(entry)
            origin.setdefault(code, owner)
    return merged


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
        if self.sheet.lower().endswith(TEXT_FILE_SUFFIXES):
            # A text export's "sheet" is the file: file:line:COLUMN, as editors and grep say it.
            return ":".join(str(p) for p in (self.sheet, self.row, self.column) if p is not None)
        ref = f"{self.column or ''}{self.row or ''}"
        return f"{self.sheet}!{ref}" if ref else self.sheet

    def as_dict(self) -> dict:
        # The fields by hand, not dataclasses.asdict (which deep-copies each value): a load may
        # write a finding for each of 40,000 lines.
        data = {name: value for name in _FIELDS if (value := getattr(self, name)) is not None}
        if self.cell:
            data["cell"] = self.cell
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        return cls(**{k: v for k, v in data.items() if k != "cell"})


_FIELDS = tuple(f.name for f in fields(Finding))


def make_finding(code: str, message: str, *, value: object = None, pii: bool = False,
                 severity: str | None = None, codes: dict[str, tuple[str, str]] = CODES, **where) -> Finding:
    """Build a finding, rendering and masking the offending value. ``codes`` are those registered
    for the dataset (see :func:`merge_codes`); a code not among them raises :class:`UnregisteredCode`."""
    try:
        default_severity, meaning = codes[code]
    except KeyError:
        raise UnregisteredCode(code) from None
    shown = None
    if value is not None and value != "":
        shown = mask_value(value) if pii else _printable(value)
        if pii and str(value).strip() and str(value).strip() in message:
            # A rule's message may quote the cell ("the cell holds the error ..."): never a PII
            # value; the code's generic meaning says the same without it.
            message = meaning
    # The sheet name and header texts come from the file too: scrubbed like any free text.
    # Control characters and bidi controls are shown escaped: findings reach terminals and reports.
    if where.get("sheet"):
        where["sheet"] = printable(scrub_text(where["sheet"]))
    return Finding(code=code, message=printable(scrub_text(message)), severity=severity or default_severity,
                   value=shown, **where)


def _printable(value: object, limit: int = 80) -> str:
    if isinstance(value, int) and value.bit_length() > 200:  # str() refuses past 4,300 digits
        value = f"a number of about {int(value.bit_length() * 0.30103)} digits"
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    # Spaces, tabs and line breaks run together; any other control character is shown escaped
    # (\x00), never dropped: it may be the finding.
    text = printable(" ".join(_SPACES.split(scrub_text(text).strip(" \t\n\r"))))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SPACES = re.compile(r"[ \t\n\r]+")

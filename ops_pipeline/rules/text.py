"""Text cells: what the database can store and a person can see."""
from __future__ import annotations

import re

from . import RuleViolation

#: Control characters other than tab, line feed and carriage return (C0, DEL, C1), and lone
#: surrogates: never text a person typed. PostgreSQL refuses NUL in text; the others would reach
#: a terminal as escape sequences wherever the data is shown.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character(text: str) -> str | None:
    """The first control character in ``text`` (as ``U+0000 (NUL)``), or None when it holds none."""
    if text.isprintable():  # the common case, checked in C
        return None
    match = _CONTROL.search(text)
    if match is None:
        return None
    code = ord(match[0])
    return f"U+{code:04X}" + (f" ({_NAMES[code]})" if code in _NAMES else "")


_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "backspace", 0x1B: "ESC", 0x7F: "DEL", 0x9B: "CSI"}


def check_cell_text(text: str) -> None:
    """Refuse a text cell holding a control character: a finding, never a load error."""
    found = control_character(text)
    if found is not None:
        raise RuleViolation(
            "control-character", f"the cell holds the control character {found}, which OPS does not store"
        )

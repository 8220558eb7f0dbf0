"""Text from a file, made safe to show: nothing in a cell, header, sheet name, file name or S3 key
is ever interpreted by a terminal, a report viewer or a log reader.

Control characters (C0 including newline and tab, DEL, C1), which make ANSI/CSI/OSC escape
sequences, and the invisible bidirectional controls that reorder what a reader sees (U+202E...)
are shown as ``\\x1b`` / ``\\u202e``. Rich markup (``[bold]``, ``[/x]``) is handled where rich
renders: it is told to read no markup at all (see stages/report.py and cli.py).
"""
from __future__ import annotations

import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_BUT_LINES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with every control character and bidi control shown as an escape, on one line;
    with ``lines``, line feeds are kept (a traceback)."""
    if not text:
        return text
    return (_UNSAFE_BUT_LINES if lines else _UNSAFE).sub(_escape, text)


def printable_data(value: Any) -> Any:
    """``value`` (a JSON document: report, event) with :func:`printable` applied to every string."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(k) if isinstance(k, str) else k: printable_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_data(v) for v in value]
    return value

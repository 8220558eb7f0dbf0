"""Where the pipeline gets its input files from: local paths and S3 (sources/s3.py)."""
from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 100
_MAX_EXTENSION_LENGTH = 16
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def safe_filename(key: str) -> str:
    """A single, safe local file name for an untrusted source name (a path or an object key).

    Takes the last path segment (splitting on ``/`` and ``\\``), drops control characters, maps
    anything outside ``[A-Za-z0-9._-]`` to ``_``, strips leading dots and caps the length at 100
    characters keeping the extension. Never empty (``object``), never ``.`` or ``..``.
    """
    name = re.split(r"[/\\]", str(key))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = _UNSAFE_CHARS.sub("_", name)
    name = name.lstrip(".")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= _MAX_EXTENSION_LENGTH:
            name = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME_LENGTH]
    if name in ("", ".", ".."):
        return "object"
    return name


def copy_name(source_name: str) -> str:
    """The local name of a fetched copy: :func:`safe_filename`, with anything that looks like an
    e-mail address, phone number or SSN masked first (the name shows in reports and messages).
    The extension is kept apart, or ``name@agency.gov.xlsx`` would lose it to the address."""
    from ..redact import scrub_text

    last = re.split(r"[/\\]", str(source_name))[-1]
    stem, dot, extension = last.rpartition(".")
    if not (dot and stem and extension.isalnum() and len(extension) <= _MAX_EXTENSION_LENGTH):
        stem, extension = last, ""
    name = safe_filename(scrub_text(stem) + (f".{extension}" if extension else ""))
    if scrub_text(name) != name:  # the mapping or the length cap formed a pattern again
        name = "source" + (f".{extension}" if extension else "")
    return name

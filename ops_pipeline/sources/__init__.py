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

"""Masking of PII and secrets in anything the pipeline prints, logs or reports.

The staged data files and the database hold values as they are; everything else (events, findings,
reports, errors, notifications) goes through these functions.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
PHONE = re.compile(r"(?<!\d)(?:\+?1[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)")


def mask_value(value: object) -> str:
    """Mask a PII value completely, keeping only its length class so people can tell blanks apart."""
    if value is None or value == "":
        return ""
    return "***"


def scrub_text(text: str) -> str:
    """Mask anything in free text that looks like an e-mail address, a phone number or an SSN."""
    if not text:
        return text
    text = EMAIL.sub("<email>", text)
    text = SSN.sub("<ssn>", text)
    text = PHONE.sub("<phone>", text)
    return text


def redact_url(url: str) -> str:
    """A connection URL without its password (and without query secrets such as passwords)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = re.sub(r"(?i)(password|secret|token|key)=[^&]*", r"\1=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

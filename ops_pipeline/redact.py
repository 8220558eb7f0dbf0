"""Masking of PII and secrets in anything the pipeline prints, logs or reports.

The staged data files and the database hold values as they are; everything else (events, findings,
reports, errors, notifications) goes through these functions.
"""
from __future__ import annotations

import re
from typing import Any
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


def scrub_data(value: Any, keep: frozenset = frozenset()) -> Any:
    """``value`` with :func:`scrub_text` applied to every string in it (keys included), for JSON
    documents that are not staged data: the manifest, summaries, results, reports, events.
    String values of the keys in ``keep`` are left as they are (file paths the run refers to)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_data(k) if isinstance(k, str) else k:
                v if (k in keep and isinstance(v, str)) else scrub_data(v, keep) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v, keep) for v in value]
    return value


_QUOTED = re.compile(r"""(['"])(.*?)\1""")
#: Quoted text that may stay in a reason: a zip part name such as 'xl/sharedStrings.xml'.
_PART_NAME = re.compile(r"[\w./\\\[\]-]{1,120}\.(?:xml|rels|bin|vml)", re.IGNORECASE)


def safe_reason(exc: BaseException, limit: int = 200) -> str:
    """The first line of a library's exception message, without what it quotes from the file.

    Reader and parser messages often quote the offending cell text (``could not convert string
    to float: 'Jane Doe'``, ``Unrecognized boolean cell value: Jane Doe``), which may come from a
    PII column. Quoted text is replaced by ``...`` unless it is a zip part name, and so is whatever
    follows the last ``": "``. Use it wherever a library's message reaches an error.
    """
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        # str(KeyError) is the repr of its key: a sentence quoting a zip part name is kept as a
        # sentence; anything else (perhaps a cell value) stays quoted, hence dropped below.
        inner = exc.args[0]
        if " " in inner and any(_PART_NAME.fullmatch(m.group(2)) for m in _QUOTED.finditer(inner)):
            text = inner
    text = text.splitlines()[0] if text else type(exc).__name__
    text = _QUOTED.sub(lambda m: m.group(0) if _PART_NAME.fullmatch(m.group(2)) else f"{m.group(1)}...{m.group(1)}",
                       text)
    head, sep, tail = text.rpartition(": ")
    if sep and not (tail.startswith(("'", '"')) or _PART_NAME.fullmatch(tail.strip())):
        text = f"{head}: ..."
    return scrub_text(text)[:limit]


#: Environment variables whose values are secrets, and the secrets inside VCAP_SERVICES.
SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OPS_PIPELINE_SMTP_PASSWORD",
                   "OPS_PIPELINE_WEBHOOK_SECRET", "PGPASSWORD")
URL_ENV_VARS = ("OPS_PIPELINE_DB_URL", "DATABASE_URL", "OPS_PIPELINE_TEST_PG_URL")
_SECRET_KEYS = re.compile(r"(?i)(password|secret|token|uri|url|key)")
MIN_SECRET_CHARS = 6


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a connection URL: the password (as written and decoded) and the whole
    user-info part (``user:password``), which a parser may split at a wrong place."""
    if not url or "://" not in url:
        return []
    from urllib.parse import unquote

    rest = url.split("://", 1)[1]
    # Everything up to the last "@" before the path is user info, even with an unencoded "/".
    userinfo = rest.rsplit("@", 1)[0] if "@" in rest else ""
    found = []
    if userinfo:
        found.append(userinfo)
        password = userinfo.split(":", 1)[1] if ":" in userinfo else ""
        found += [password, unquote(password)]
    query = urlsplit(url).query if "?" in url else ""
    found += [m.group(2) for m in re.finditer(r"(?i)(password|secret|token|key)=([^&]+)", query)]
    return [s for s in found if len(s) >= MIN_SECRET_CHARS]


def known_secrets(env: dict | None = None, urls: tuple = ()) -> list[str]:
    """Secrets this process knows about: secret environment variables, database URLs' passwords
    and the credentials of every VCAP_SERVICES binding, plus the passwords of ``urls``. Longest
    first, so that a secret containing another is replaced whole."""
    import json
    import os

    env = os.environ if env is None else env
    found: list[str] = [env[name] for name in SECRET_ENV_VARS if env.get(name)]
    for name in URL_ENV_VARS:
        found += url_secrets(env.get(name))
    for url in urls:
        found += url_secrets(url)
    vcap = env.get("VCAP_SERVICES")
    if vcap:
        try:
            services = json.loads(vcap)
        except ValueError:
            services = {}
        stack = [services]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(value, str) and _SECRET_KEYS.search(str(key)):
                        found.append(value)
                        found += url_secrets(value)
                    elif isinstance(value, (dict, list)):
                        stack.append(value)
            elif isinstance(item, list):
                stack.extend(item)
    unique = {s for s in found if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS}
    return sorted(unique, key=len, reverse=True)


def scrub_secrets(text: str, secrets) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text

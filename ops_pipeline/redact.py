"""Masking of PII and secrets in anything the pipeline prints, logs or reports.

The staged data files and the database hold values as they are; everything else (events, findings,
reports, errors, notifications) goes through these functions. Two kinds of masking, one module:

* :func:`scrub_text` masks by pattern: credentials written into text (``user:password@host``,
  ``password=...``), e-mail addresses, phone numbers and SSNs. It knows no secret.
* :func:`scrub_secrets` masks by value: every secret this process knows (:func:`known_secrets`:
  secret environment variables, the passwords of the database URLs in use, every credential in
  ``VCAP_SERVICES``), as written, percent-encoded, percent-decoded and base64-encoded.

Every detector is a compiled pattern whose matches can start only at the edge of a word, digit run
or token, so that no text makes it slower than linear (``scripts/bench.py`` has the timings).
"""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

# -- PII in free text -----------------------------------------------------------------------------

#: Hyphens and dashes people (and word processors) put in SSNs and phone numbers.
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACES = " \u00a0\u2007\u202f"
_SEP = f"[{_DASHES}{_SPACES}]"
#: Not preceded (followed) by a letter or digit, nor part of a decimal number such as 123456789.00.
_START = r"(?<![^\W_])(?<!\d[.,])"
_END = r"(?![^\W_])(?![.,]\d)"

#: Any letters (``josé@exämple.org``), the full-width at sign too; the last label is letters.
EMAIL = re.compile(r"(?<![\w.%+'-])[\w.%+'-]+[@\uff20](?:[\w-]+\.)+[^\W\d_]{2,}")
#: 123-45-6789 with any dashes or spaces between the groups...
SSN = re.compile(rf"{_START}\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{4}}{_END}")
#: ... or none: nine digits that could be an SSN (area not 000, 666 or 9xx, group not 00, serial
#: not 0000), which spares round amounts (250000000) and numbers with decimals.
SSN_DIGITS = re.compile(rf"{_START}(?!000|666|9)\d{{3}}(?!00)\d{{2}}(?!0000)\d{{4}}{_END}")
#: North American: +1 (202) 555-0143, 202.555.0143, 1-202-555-0143.
PHONE = re.compile(rf"(?<!\d)(?:\+?1[{_DASHES}{_SPACES}.]?)?(?:\(\d{{3}}\)[{_SPACES}]?|\d{{3}}[{_DASHES}{_SPACES}.])"
                   rf"\d{{3}}[{_DASHES}{_SPACES}.]\d{{4}}(?!\d)")
#: International: a "+", a country code and groups (+44 20 7946 0958, +33 (0)1 23 45 67 89); the
#: replacement checks the digit count (7 to 15, as E.164 allows). Possessive groups: no backtracking.
PHONE_INTL = re.compile(rf"(?<![\w+])\+\d{{1,3}}+(?:[{_DASHES}{_SPACES}.]?(?:\(\d{{1,4}}+\)|\d{{1,5}}+)){{1,7}}+(?!\d)")
#: A local number of 7 digits: 555-0143, 555 0143 (not 555.0143, a decimal number).
PHONE_LOCAL = re.compile(rf"{_START}(?<![+/:])\d{{3}}{_SEP}\d{{4}}{_END}(?![/:]\d)")


def _intl_phone(match: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "<phone>" if 7 <= digits <= 15 else match.group(0)


# -- credentials written into text ----------------------------------------------------------------

#: ``scheme:`` with its slashes, at the start of a token.
_SCHEME = re.compile(r"[A-Za-z][\w+.-]*:/*")
#: Characters that open a token without being part of a URL: quotes, brackets, ``=``.
_TOKEN_OPENERS = "'\"`([{<="
#: ``name=value`` (URL queries, libpq keyword strings, ``KEY=value`` in the environment).
_ASSIGNMENT = re.compile(r"(?<![\w.-])([\w.-]+)(=)('[^']*'|\"[^\"]*\"|[^&\s'\";,]*)")
#: ``"name": "value"`` (JSON and Python reprs).
_QUOTED_PAIR = re.compile(r"""(["'])([\w.-]+)\1(\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
#: Names whose values are secrets.
SECRET_NAME = re.compile(r"(?i)pass|pwd|secret|token|credential|signature|sig$|key$|auth")


def _userinfo(token: str) -> tuple[int, int, int] | None:
    """Where the user info of a ``user:password@host`` in ``token`` is, however the rest is
    mistyped (``scheme:/u:p@h``, ``scheme//u:p@h``, ``u:p@h/db``, an ``@`` in the password):
    ``(start of the user name, the colon before the password, the last "@")``, or None."""
    start = len(token) - len(token.lstrip(_TOKEN_OPENERS))
    at = token.rfind("@")
    if at <= start:
        at = token.rfind("\uff20")
        if at <= start:
            return None
    scheme = _SCHEME.match(token, start, at)
    begin = start
    if scheme:
        if ":" in token[scheme.end():at]:
            begin = scheme.end()
        elif scheme.group(0).endswith("/"):  # scheme://user@host: no password
            return None
    colon = token.find(":", begin, at)
    if colon < 0:
        return None
    return begin, colon, at


def _mask_userinfo(token: str) -> str:
    """``token`` with the password of a ``user:password@host`` in it replaced by ``***``
    (everything between the user name and the last ``@``)."""
    found = _userinfo(token)
    if found is None:
        return token
    _, colon, at = found
    return token[: colon + 1] + "***" + token[at:]


def _mask_assignment(match: re.Match) -> str:
    name, sign, value = match.groups()
    if not value or value in ("''", '""') or not SECRET_NAME.search(name):
        return match.group(0)
    return f"{name}{sign}***"


def _mask_quoted_pair(match: re.Match) -> str:
    quote_char, name, colon, value = match.groups()
    if not SECRET_NAME.search(name) or len(value) <= 2:
        return match.group(0)
    return f"{quote_char}{name}{quote_char}{colon}{value[0]}***{value[0]}"


def scrub_credentials(text: str) -> str:
    """``text`` without what looks like a credential: the password of any ``user:password@host``
    (well-formed URL or not) and the value of any ``password=``, ``pwd=``, ``secret=``,
    ``token=``, ``...key=`` or ``"password": "..."``."""
    if not text:
        return text
    if "@" in text or "\uff20" in text:
        text = re.sub(r"\S+", lambda m: _mask_userinfo(m.group(0)), text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_mask_assignment, text)
    if ":" in text and ('"' in text or "'" in text):
        text = _QUOTED_PAIR.sub(_mask_quoted_pair, text)
    return text


def mask_value(value: object) -> str:
    """Mask a PII value completely, keeping only its length class so people can tell blanks apart."""
    if value is None or value == "":
        return ""
    return "***"


def scrub_text(text: str) -> str:
    """Mask anything in free text that looks like a credential, an e-mail address, a phone number
    or an SSN."""
    if not text:
        return text
    text = scrub_credentials(text)
    text = EMAIL.sub("<email>", text)
    if any(ch.isdigit() for ch in text):
        text = SSN.sub("<ssn>", text)
        text = SSN_DIGITS.sub("<ssn>", text)
        text = PHONE_INTL.sub(_intl_phone, text)
        text = PHONE.sub("<phone>", text)
        text = PHONE_LOCAL.sub("<phone>", text)
    return text


def redact_url(url: str) -> str:
    """A connection URL, well-formed or not, without its password and without query secrets."""
    if not url:
        return url
    return scrub_credentials(_mask_userinfo(url) if any(ch.isspace() for ch in url) else url)


def scrub_data(value: Any, keep: frozenset = frozenset(), secrets: Iterable[str] | None = None) -> Any:
    """``value`` with :func:`scrub_text` and :func:`scrub_secrets` applied to every string in it
    (keys included), for JSON documents that are not staged data: the manifest, summaries,
    results, reports, events. String values of the keys in ``keep`` are left as they are (file
    paths the run refers to). ``secrets`` defaults to :func:`known_secrets`."""
    secrets = known_secrets() if secrets is None else list(secrets)
    return _scrub_data(value, keep, secrets)


def _scrub_data(value: Any, keep: frozenset, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub_secrets(scrub_text(value), secrets)
    if isinstance(value, dict):
        return {_scrub_data(k, keep, secrets) if isinstance(k, str) else k:
                v if (k in keep and isinstance(v, str)) else _scrub_data(v, keep, secrets)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_data(v, keep, secrets) for v in value]
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


# -- known secrets, masked by value ---------------------------------------------------------------

#: Environment variables whose values are secrets (besides any whose name says so, see below).
SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                   "OPS_PIPELINE_SMTP_PASSWORD", "OPS_PIPELINE_WEBHOOK_SECRET", "PGPASSWORD")
#: Environment variables holding connection URLs (besides any whose name ends in URL, URI or DSN).
URL_ENV_VARS = ("OPS_PIPELINE_DB_URL", "DATABASE_URL", "OPS_PIPELINE_TEST_PG_URL")
#: Whole words of a variable's name; PWD and OLDPWD are the working directory, not a password.
_SECRET_ENV_NAME = re.compile(r"(?i)(?:^|_)(?:pass(?:word|wd|phrase)?|pwd|secret|token|credentials?|"
                              r"private_?key|api_?key)(?:_|$)")
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})
_URL_ENV_NAME = re.compile(r"(?i)(?:url|uri|dsn)$")
#: Shorter values would mask ordinary words; a secret that short protects nothing anyway.
MIN_SECRET_CHARS = 6

#: Connection URLs this process was given (``--db``, ``--endpoint-url``, resolved database URLs).
_remembered: set[str] = set()


def remember_url(url: str | None) -> None:
    """Treat the secrets of ``url`` as known from now on (see :func:`known_secrets`)."""
    if url:
        _remembered.add(url)


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a connection URL, well-formed or not: the password (as written and
    percent-decoded), the whole user-info part (``user:password``, which a parser may split at a
    wrong place) and the values of password-like query options."""
    if not url:
        return []
    found: list[str] = []
    # The whole value, and each word of it: a password may hold a space, a value may hold words.
    for token in dict.fromkeys([url.strip(), *url.split()]):
        span = _userinfo(token)
        if span:
            begin, colon, at = span
            userinfo = token[begin:at].rpartition("//")[2] if "//" in token[begin:colon] else token[begin:at]
            password = token[colon + 1:at]
            found += [userinfo, password, unquote(password)]
    for match in _ASSIGNMENT.finditer(url):
        name, _, value = match.groups()
        if SECRET_NAME.search(name):
            value = value.strip("'\"")
            found += [value, unquote(value)]
    return [s for s in dict.fromkeys(found) if len(s) >= MIN_SECRET_CHARS]


def known_secrets(env: Mapping[str, str] | None = None, urls: Iterable[str] = ()) -> list[str]:
    """Secrets this process knows about: secret environment variables (named in
    :data:`SECRET_ENV_VARS` or whose name says password, secret, token...), the passwords of URLs
    in the environment, of remembered URLs (:func:`remember_url`) and of ``urls``, and every
    credential of every ``VCAP_SERVICES`` binding. Longest first, so that a secret containing
    another is replaced whole."""
    from . import vcap

    env = os.environ if env is None else env
    found: list[str] = []
    for name, value in env.items():
        if not value:
            continue
        if name in SECRET_ENV_VARS or (_SECRET_ENV_NAME.search(name) and name not in _NOT_SECRET_ENV):
            found.append(value)
        if name in URL_ENV_VARS or _URL_ENV_NAME.search(name):
            found += url_secrets(value)
    for url in (*_remembered, *urls):
        found += url_secrets(url)
    for value in vcap.credential_values(env):
        found.append(value)
        found += url_secrets(value)
    unique = {s for s in found if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS}
    return sorted(unique, key=len, reverse=True)


def _forms(secret: str) -> set[str]:
    """The ways a secret shows in text: as is, percent-encoded, percent-decoded, base64 (SMTP AUTH).
    A secret from an environment that is not UTF-8 holds lone surrogates: encoded as they are."""
    forms = {secret, quote(secret, safe="", errors="surrogatepass"), unquote(secret)}
    forms.add(base64.b64encode(secret.encode("utf-8", "surrogatepass")).decode())
    return forms


def scrub_secrets(text: str, secrets: Iterable[str] | None = None, min_chars: int = MIN_SECRET_CHARS) -> str:
    """``text`` with every secret (default: :func:`known_secrets`) replaced by ``***``, in each of
    its forms. ``min_chars`` lets a caller mask a short secret it knows to be one (the SMTP
    password in an SMTP error)."""
    if not text:
        return text
    secrets = known_secrets() if secrets is None else secrets
    forms = {form for secret in secrets if secret and len(secret) >= min_chars for form in _forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        if form and form in text:
            text = text.replace(form, "***")
    return text

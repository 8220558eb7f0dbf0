"""cloud.gov's ``VCAP_SERVICES``: the service bindings (database, object store) and their
credentials, read in this one place.

Everything else asks :func:`services` for the bindings of one label, and :mod:`ops_pipeline.redact`
asks :func:`credential_values` for every secret to mask. The document itself is never quoted in
an error: it holds passwords.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from .errors import UsageError

ENV_NAME = "VCAP_SERVICES"
_HINT = "check the app's service bindings"
#: Credential keys whose values are secrets (or URLs that may hold one).
SECRET_KEY = re.compile(r"(?i)pass|pwd|secret|token|key|credential|uri|url|dsn")


def parse(env: Mapping[str, str] | None = None) -> dict:
    """The parsed ``VCAP_SERVICES`` (``{}`` when it is unset or blank).

    Raises :class:`UsageError` when it is not a JSON object, without quoting it.
    """
    env = os.environ if env is None else env
    raw = (env.get(ENV_NAME) or "").strip()
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        # ``from None``: the decode error carries the whole document, secrets included.
        raise UsageError(f"{ENV_NAME} is not valid JSON", hint=_HINT) from None
    if not isinstance(document, dict):
        raise UsageError(f"{ENV_NAME} is not a JSON object", hint=_HINT)
    return document


def services(label: str, env: Mapping[str, str] | None = None) -> list[dict]:
    """The bound services of one label (``aws-rds``, ``s3``), in binding order."""
    entries = parse(env).get(label)
    if not entries:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UsageError(f'{ENV_NAME} "{label}" is not a list of services', hint=_HINT)
    return entries


def credential_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret-looking string value in ``VCAP_SERVICES`` (passwords, keys, tokens, URIs), at
    any depth. Never raises: a document that cannot be parsed holds no value we could name."""
    try:
        document: Any = parse(env)
    except UsageError:
        return []
    found: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str) and SECRET_KEY.search(str(key)):
                    found.append(value)
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found

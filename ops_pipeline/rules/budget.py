"""Which spreadsheet rows make projects, agreements and budget lines."""
from __future__ import annotations

NOT_PROJECTS = {"placeholder", "opre"}
NOT_AGREEMENTS = {"placeholder"}


def _key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def is_project_title(title: str | None) -> bool:
    """A research project is made for a non-empty title that is not ``Placeholder`` or ``OPRE``."""
    key = _key(title)
    return bool(key) and key not in NOT_PROJECTS


def is_agreement_name(name: str | None) -> bool:
    """An agreement is made for a non-empty CIG Name that is not ``Placeholder``."""
    key = _key(name)
    return bool(key) and key not in NOT_AGREEMENTS


def is_placeholder_row(cig_name: str | None) -> bool:
    """A row whose CIG Name is ``Placeholder`` reserves money for no agreement yet: skipped."""
    return _key(cig_name) in NOT_AGREEMENTS


def title_key(title: str) -> str:
    """Projects are the same when their titles match ignoring case and spacing."""
    return _key(title)


def agreement_key(name: str, agreement_type: str) -> tuple[str, str]:
    """Agreements are the same when (lower(name), type) match."""
    return (_key(name), agreement_type)

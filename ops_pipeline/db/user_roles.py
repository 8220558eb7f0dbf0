"""A user's roles: OPS's ``user_role`` rows, granted by role name, added and never taken away.

``user_role`` is keyed by (user_id, role_id) and has no id, so the generic entity layer does not
write it; a dataset loads it after its users (``own_loads``, see :mod:`ops_pipeline.db.load`)
with :func:`add_roles`. The policy (MAPS.md, users; decided for the migration):

- a role a record names that the user does not hold is **added**;
- a role OPS granted that the file does not name is **kept** (the loader OPS used before replaced
  a user's roles, so a MAPS export would strip roles given in OPS);
- a role name OPS's ``role`` table does not have is a warning finding (``ROLE_DROPPED``), never
  dropped silently.

Each added row gets its Continuum version row and its NEW ``ops_db_history`` row (class
``UserRole``) through the load's history recorder; a record the user already holds writes nothing.
"""
from __future__ import annotations

from typing import Iterable

from ..findings import make_finding
from . import bulk
from .entities import Counts


def add_roles(loader, records: Iterable[dict], *, field: str = "roles", code: str = "ROLE_DROPPED") -> dict:
    """Grant the roles of staged ``user_role`` records (``key``: ``user_id``, ``role`` name).

    ``loader`` is the load's :class:`ops_pipeline.db.entities.Loader` (its connection, acting user,
    time, history recorder, findings). Returns the counts: inserted (granted), unchanged (already
    held), skipped (a role OPS does not have: a ``code`` warning on ``field``'s cell), rejected (a
    user the load did not load: that user's own finding says why)."""
    from . import ops_models as m

    conn = loader.conn
    counts = Counts()
    wanted = [(r["key"]["user_id"], r["key"]["role"], r.get("lineage") or {}) for r in records]
    if not wanted:
        return counts.as_dict()
    roles = {name: id_ for id_, name in bulk.read_all(conn, m.Role.__table__, ("id", "name"))}
    users = {row[0] for row in bulk.read_rows(conn, m.User.__table__, ("id",), {"id": {u for u, _, _ in wanted}})}
    link = m.UserRole.__table__
    held = {tuple(row) for row in bulk.read_rows(conn, link, ("user_id", "role_id"), {"user_id": users})}
    new: set[tuple[int, int]] = set()
    for user_id, name, lineage in wanted:
        role_id = roles.get(name)
        if user_id not in users:
            counts.rejected += 1
        elif role_id is None:
            counts.skipped += 1
            loader.findings.append(make_finding(
                code, f"OPS has no role named {name!r}: user {user_id} is not given it", severity="warning",
                sheet=lineage.get("sheet"), row=_first_row(lineage.get("rows")), column=loader.columns.get(field),
                field=field, value=name, codes=loader.codes))
        elif (user_id, role_id) in held or (user_id, role_id) in new:
            counts.unchanged += 1
        else:
            new.add((user_id, role_id))
    if new:
        columns = ("user_id", "role_id", "created_by", "updated_by", "created_on", "updated_on")
        rows = [(user_id, role_id, loader.user_id, loader.user_id, loader.now, loader.now)
                for user_id, role_id in sorted(new)]
        counts.inserted += bulk.insert_rows(conn, link, columns, rows)
        loader.recorder.created_rows("UserRole", link, columns, rows)
    return counts.as_dict()


def _first_row(rows) -> int | None:
    first = str(rows or "").split(",", 1)[0].split("-", 1)[0]
    return int(first) if first.isdigit() else None

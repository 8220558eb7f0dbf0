"""History as OPS's ORM would have recorded it, written in bulk inside the loader's transaction.

OPS writes through SQLAlchemy with SQLAlchemy-Continuum and its own session listeners; the
pipeline writes rows in bulk. This module adds, for the rows the loader wrote, what those would
have added (see the schema map's "How OPS records history"), as OPS's own code builds them:

**Continuum** (validity strategy). One ``ops.transaction`` row per flush (``issued_at`` = the
load's UTC time, ``remote_addr`` NULL). For every parent and subtype row inserted or updated, a
``<table>_version`` row holding the *whole* row as it now stands (copied from the base table by
the server), ``transaction_id`` = that transaction, ``operation_type`` 0 (insert) or 1 (update),
``end_transaction_id`` NULL; before an update's version row goes in, the previous current
version row of the same id gets ``end_transaction_id`` = the new transaction. Every row this
module writes itself (``ops_db_history``, ``ops_event``, the ``*_history`` lines, the system
user) gets its version row too (operation 0), as every OPS model is versioned.

**ops_db_history** (OPS's session listener, ``models/utils``): one row per entity, not per
table: ``event_type`` NEW/UPDATED, ``class_name`` the most specific class (``ContractBudgetLineItem``),
``row_key`` the id as text, ``changes``: NEW ``{"col": {"new": v}}`` for every truthy column
value, UPDATED ``{"col": {"new": v, "old": v}}`` for every changed column; values as OPS's
``convert_for_jsonb`` gives them (enum names, decimals as JSON numbers, dates and datetimes ISO).
An UPDATED row is written only when something changed. The audit columns (created/updated
by/on) are left out of UPDATED changes: the ORM sets ``updated_on`` during the flush, after the
listener has looked. ``created_by`` is the acting user, ``updated_by`` NULL, ``created_on`` =
``updated_on`` = the load's time, as the ORM leaves them. ``event_details`` is OPS's
``to_dict()`` (marshmallow); here, *a flat serialisation of the entity's columns* (parent and
subtype, as the loader gave them for a created entity, as stored for an updated one) with the
same ``convert_for_jsonb`` values (so decimals are numbers, not marshmallow's strings, and
datetimes carry no ``Z``), plus ``display_name`` (``BL 15001``, the agreement's name, the CAN's
number, the project's title). The nested related objects ``to_dict()`` adds are not included.

**ops_event** (written by OPS's data_tools loaders, one per created or updated record):
``CREATE_BLI {"new_bli": <ser>}``, ``UPDATE_BLI {"bli_updates": <upd>, "bli": <ser>}``,
``CREATE_NEW_AGREEMENT {"New Agreement": <ser>}``, ``UPDATE_AGREEMENT {"agreement_updates": <upd>}``,
``CREATE_NEW_CAN {"new_can": <ser>}``, ``UPDATE_CAN {"can_updates": {"owner_id", "changes"}}``,
``CREATE_PROJECT {"new_project": <ser>}``, ``UPDATE_PROJECT {"project_updates": <upd>}``,
``CREATE_SERVICES_COMPONENT {"new_sc": <ser>}``, ``UPDATE_SERVICES_COMPONENT
{"services_component_updates": <upd>}``, ``CREATE_PROCUREMENT_SHOP {"new_procurement_shop": <ser>}``,
``CREATE_USER {"user_id": id, "message": "Upserted user <email>"}`` (a created user; not the
system user, for which upstream writes none); ``<upd>`` is ``{"owner_id": id, "updated_by": user,
"changes": {"col": {"new_value": v, "old_value": v}}}`` (OPS's ``generate_events_update``: a diff of
the two serialisations). ``event_status`` SUCCESS, ``created_by`` the acting user (``updated_by``
NULL). Other tables (fees, vendors, user roles) get no event, as upstream. On PostgreSQL a created
entity's event is built by the server from its ops_db_history row (same object), so each document
is parsed once.

**agreement_history / can_history / project_history** (OPS's ``*_history_trigger_func``, run by
the loaders for each event): rows pointing to their event (``ops_event_id``), ``timestamp`` the
event's ``created_on`` as ``%Y-%m-%dT%H:%M:%S.%fZ``, no ``created_by``/``updated_by`` (OPS's
history functions set none), messages in the system-user wording ("Changes made to the OPRE
budget spreadsheet ..."; another acting user's name when ``History(system=False)``):

- CREATE_BLI → agreement line "New Budget Line Added" / BUDGET_LINE_ITEM_CREATED (agreement_id,
  agreement_id_record, budget_line_id, budget_line_id_record); none when the line has no agreement;
- UPDATE_BLI → one line per changed can_id, date_needed, amount, line_description,
  service_component_name_for_sort (BUDGET_LINE_ITEM_UPDATED, "Change to CAN" / "Change to Obligate
  By" / "Change to Amount" / ...);
- CREATE_NEW_AGREEMENT → "Agreement Created" / AGREEMENT_CREATED; UPDATE_AGREEMENT → one line per
  changed property OPS describes (AGREEMENT_UPDATED);
- CREATE_SERVICES_COMPONENT → "New Services Component Added" / SERVICE_COMPONENT_CREATED;
- CREATE_NEW_CAN → can line "FY <fy> Data Import" / CAN_DATA_IMPORT (fiscal year of the load's
  time); UPDATE_CAN → nick_name, description, portfolio_id (+ division) lines;
- CREATE_PROJECT → "Project Created" / PROJECT_CREATED; UPDATE_PROJECT → title, short_title,
  description, url, project_type lines.

Upstream also skips a history line equal to one written for the same record within a minute;
a bulk load writes each line once, so that check is not repeated here.

**System user** (``data_tools/src/common/utils.get_or_create_sys_user``): looked up by its
``oidc_id``; created with that ``oidc_id`` and email when missing (no ``ops_event``: upstream
writes none for it; its version row and its NEW ``User`` history row are written).

Usage (one load, one transaction)::

    history = History(conn, now=utc_naive_now)
    history.user_id = system_user(conn, history=history)  # created and recorded if missing
    ... the loader writes its rows, created_by/updated_by = history.user_id ...
    history.created("budget_line", "ContractBudgetLineItem", "budget_line_item", row,
                    "contract_budget_line_item", subtype_row)
    history.updated("budget_line", "ContractBudgetLineItem", "budget_line_item", id, old, new,
                    "contract_budget_line_item")
    history.created_many(kind, "ContractBudgetLineItem", table, columns, rows,   # tuples, in bulk
                         subtype_table, subtype_columns, subtype_rows)
    history.created_rows("UserRole", "user_role", columns, rows)  # a table keyed without an id
    history.flush()   # after the data rows are written: version rows copy them

Rows are given as dicts (or, for many rows, as tuples with their column names) in the bulk
module's comparable form (money as text with its places, dates as ISO text; Decimal and date
objects are accepted too) with enum values as their names.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any, Iterable, Sequence

import orjson
from sqlalchemy import Date, DateTime, Numeric, Table, Uuid, insert, select
from sqlalchemy.engine import Connection

from . import bulk

DEFAULT_EMAIL = "system.admin@email.com"
DEFAULT_OIDC = "00000000-0000-1111-a111-000000000026"
#: How OPS writes a history line's ``timestamp`` (and its schemas' datetimes).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
AUDIT_COLUMNS = frozenset({"created_by", "created_on", "updated_by", "updated_on"})
SYSTEM_WORDING = "Changes made to the OPRE budget spreadsheet"
#: Rows built and sent per round trip (bounds the memory a large load's history takes).
CHUNK = 10_000

#: Per parent table: (create event, its key, update event, its key) as OPS's loaders write them.
EVENTS = {
    "budget_line_item": ("CREATE_BLI", "new_bli", "UPDATE_BLI", "bli_updates"),
    "agreement": ("CREATE_NEW_AGREEMENT", "New Agreement", "UPDATE_AGREEMENT", "agreement_updates"),
    "can": ("CREATE_NEW_CAN", "new_can", "UPDATE_CAN", "can_updates"),
    "project": ("CREATE_PROJECT", "new_project", "UPDATE_PROJECT", "project_updates"),
    "services_component": ("CREATE_SERVICES_COMPONENT", "new_sc", "UPDATE_SERVICES_COMPONENT",
                           "services_component_updates"),
    "procurement_shop": ("CREATE_PROCUREMENT_SHOP", "new_procurement_shop", None, None),
    "ops_user": ("CREATE_USER", None, None, None),
}
#: Per parent table whose create event is not ``{key: <ser>}``: the event's details from the
#: entity's serialisation (OPS's users loader: the user's id and a message naming its e-mail).
EVENT_DETAILS = {
    "ops_user": lambda doc: {"user_id": doc.get("id"), "message": f"Upserted user {doc.get('email')}"},
}

#: Enum names as OPS's history messages spell them (others are shown as they are).
ENUM_LABELS = {
    "SEVERABLE": "Severable", "NON_SEVERABLE": "Non-Severable",
    "FIRM_FIXED_PRICE": "Firm Fixed Price", "TIME_AND_MATERIALS": "Time and Materials",
    "LABOR_HOUR": "Labor Hour", "COST_PLUS_FIXED_FEE": "Cost Plus Fixed Fee",
    "COST_PLUS_AWARD_FEE": "Cost Plus Award Fee", "HYBRID": "Hybrid",
    "CONTRACT": "Contract", "GRANT": "Grant", "DIRECT_OBLIGATION": "Direct Obligation", "IAA": "IAA",
    "IAA_AA": "IAA AA", "MISCELLANEOUS": "Miscellaneous",
    "NEW": "New", "ADMIN": "Admin", "AMOUNT_TBD": "Amount TBD", "AS_IS": "As Is",
    "REPLACEMENT_AMOUNT_FINAL": "Replacement Amount Final",
    "NEW_REQ": "New Requirement", "RECOMPETE": "Recompete", "LOGICAL_FOLLOW_ON": "Logical Follow-On",
    "RESEARCH": "Research", "SERVICE": "Service",
    "GSA_SCHEDULE": "GSA Schedule", "TASK_ORDER": "Task Order", "FULL_AND_OPEN": "Full and Open",
    "INCOMING": "Incoming", "OUTGOING": "Outgoing",
    "IN_REVIEW": "In Review", "APPROVED": "Approved", "REJECTED": "Declined",
    "DRAFT": "Draft", "PLANNED": "Planned", "IN_EXECUTION": "Executing", "OBLIGATED": "Obligated",
}

#: Agreement properties OPS describes as "changed the <label> from <old> to <new>".
AGREEMENT_SIMPLE = {
    "name": ("Agreement Title", "agreement title"),
    "contract_number": ("Contract Number", "contract number"),
    "task_order_number": ("Task Order Number", "task order number"),
    "po_number": ("Purchase Order Number", "purchase order number"),
    "acquisition_type": ("Acquisition Type", "acquisition type"),
    "contract_type": ("Contract Type", "contract type"),
    "service_requirement_type": ("Service Requirement Type", "service requirement type"),
    "contract_category": ("Contract Category", "contract category"),
    "psc_contract_specialist": ("PSC Contract Specialist", "PSC contract specialist"),
}


def _ops():
    """The OPS table declarations (imported late: tests may stand in for them)."""
    from . import ops_models

    return ops_models


def _label(value) -> str:
    return ENUM_LABELS.get(value, value) if isinstance(value, str) else str(value)


def _us_date(value) -> str:
    if not value:
        return "None"
    return dt.date.fromisoformat(str(value)[:10]).strftime("%m/%d/%Y")


def _money(value) -> str:
    return "{:,.2f}".format(float(value or 0))


def fiscal_year(moment: dt.datetime) -> int:
    """OPS's fiscal year of a time: the calendar year, plus one from October."""
    return moment.year + 1 if moment.month >= 10 else moment.year


class _Columns:
    """Per table: how each column's value turns into OPS's two JSON forms."""

    def __init__(self, table: Table):
        self.table = table
        self.names = [c.name for c in table.c]
        self.numeric = {}  # name -> places (None: unknown)
        self.dates, self.datetimes, self.uuids = set(), set(), set()
        for column in table.c:
            kind = column.type
            if isinstance(kind, Numeric) and not isinstance(kind, (DateTime, Date)):
                self.numeric[column.name] = getattr(kind, "scale", None)
            elif isinstance(kind, DateTime):
                self.datetimes.add(column.name)
            elif isinstance(kind, Date):
                self.dates.add(column.name)
            elif isinstance(kind, Uuid):
                self.uuids.add(column.name)


def _plain(value, numeric=False):
    """A value as OPS's ``convert_for_jsonb`` gives it (ops_db_history changes)."""
    if value is None:
        return None
    if numeric:
        return float(value)
    if value.__class__ in (str, int, bool, float):
        return value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "name") and hasattr(value, "value"):
        return value.name
    return str(value)


class _Created:
    __slots__ = ("kind", "class_name", "table", "sub_table", "columns", "rows", "sub_columns", "sub_rows",
                 "events")

    def __init__(self, kind, class_name, table, columns, rows, sub_table, sub_columns, sub_rows, events=True):
        self.kind, self.class_name, self.table, self.sub_table = kind, class_name, table, sub_table
        self.columns, self.rows = list(columns), rows
        self.sub_columns, self.sub_rows = list(sub_columns or ()), sub_rows
        self.events = events  # False: no ops_event (the system user: upstream writes none for it)


class History:
    """Collects what the loader created and updated; :meth:`flush` writes all of its history."""

    def __init__(self, conn: Connection, *, user_id: int | None = None, now: dt.datetime | None = None,
                 system: bool = True):
        self.conn = conn
        self.user_id = user_id
        self.now = (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)
        #: The acting user is the system user (OPS words the history lines for a spreadsheet load).
        self.system = system
        self._created: list[_Created] = []
        self._updated: list[tuple] = []  # (kind, class_name, table, sub_table, id, changes, new)
        self._keyed: list[tuple] = []  # (class_name, table, columns, rows): rows without an id
        self._columns: dict[str, _Columns] = {}
        self.transaction_id: int | None = None

    # -- tables --------------------------------------------------------------------------------

    def table(self, table: Table | str) -> Table:
        if isinstance(table, Table):
            return table
        tables = _ops().OpsBase.metadata.tables
        return tables.get(f"ops.{table}") if f"ops.{table}" in tables else tables[table]

    def _info(self, table: Table) -> _Columns:
        info = self._columns.get(table.name)
        if info is None:
            info = self._columns[table.name] = _Columns(table)
        return info

    # -- recording -------------------------------------------------------------------------------

    def created(self, entity_kind: str, class_name: str, parent_table, parent_row: dict,
                subtype_table=None, subtype_row: dict | None = None, *, events: bool = True) -> None:
        """Record one new entity (its rows already written or about to be, before :meth:`flush`)."""
        self.created_many(entity_kind, class_name, parent_table, list(parent_row), [tuple(parent_row.values())],
                          subtype_table, list(subtype_row or ()), [tuple((subtype_row or {}).values())],
                          events=events)

    def created_many(self, entity_kind: str, class_name: str, parent_table, columns: Sequence[str],
                     rows: Sequence[Sequence], subtype_table=None, subtype_columns: Sequence[str] = (),
                     subtype_rows: Sequence[Sequence] = (), *, events: bool = True) -> None:
        """Record many new entities of one class: tuples in ``columns`` order (``id`` among them);
        ``subtype_rows`` (if any) in the same order as ``rows``. ``events=False``: no ops_event."""
        if not rows:
            return
        if "id" not in columns:
            raise ValueError(f"{entity_kind}: the created rows carry no id")
        sub = self.table(subtype_table) if subtype_table is not None else None
        self._created.append(_Created(entity_kind, class_name, self.table(parent_table), columns, rows,
                                      sub, subtype_columns if sub is not None else (),
                                      subtype_rows if sub is not None else (), events))

    def created_rows(self, class_name: str, table, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
        """Record new rows of a table keyed by its primary-key columns rather than an id (an
        association table: ``user_role``), tuples in ``columns`` order holding every column. Their
        version rows are these rows (operation 0); their ``ops_db_history`` rows are NEW with the
        key's values joined by ``|`` as ``row_key``; no ``ops_event`` (OPS's loaders write none)."""
        if rows:
            self._keyed.append((class_name, self.table(table), list(columns), rows))

    def updated(self, entity_kind: str, class_name: str, parent_table, id: int, old: dict, new: dict,
                subtype_table=None) -> bool:
        """Record an update of entity ``id``: ``old`` and ``new`` hold its columns (parent and
        subtype together) before and after. Only columns present in both are compared, audit
        columns never. Returns whether anything changed (if not, nothing is recorded)."""
        changes = {k: (old[k], v) for k, v in new.items()
                   if k in old and k not in AUDIT_COLUMNS and k != "id" and not _same(old[k], v)}
        if not changes:
            return False
        sub = self.table(subtype_table) if subtype_table is not None else None
        self._updated.append((entity_kind, class_name, self.table(parent_table), sub, id, changes))
        return True

    @property
    def empty(self) -> bool:
        return not self._created and not self._updated and not self._keyed

    # -- writing ---------------------------------------------------------------------------------

    def flush(self) -> dict[str, int] | None:
        """Write the history of everything recorded, in the caller's transaction. Call it after
        the data rows are written (the version rows copy them). Nothing recorded: writes
        nothing, returns None; otherwise returns the number of rows written per table."""
        if self.empty:
            return None
        if self.user_id is None:
            raise ValueError("History.flush: no acting user (set user_id, see system_user())")
        ops = _ops()
        conn, now = self.conn, self.now
        counts: dict[str, int] = {}
        tx_table = ops.transaction_table
        tx = self.transaction_id = bulk.reserve_ids(conn, tx_table, 1)[0]
        bulk.submit(conn, _execute, insert(tx_table).values(id=tx, issued_at=now, remote_addr=None))
        counts["transaction"] = 1
        copied: list[tuple[str, Any]] = []  # (table, the future count of its version rows)

        # Continuum: the data rows' version rows, copied from the rows as they now stand.
        inserted: dict[str, tuple[Table, set]] = {}
        updated: dict[str, tuple[Table, set]] = {}
        for batch in self._created:
            for table in (batch.table, batch.sub_table):
                if table is not None:
                    inserted.setdefault(table.name, (table, set()))[1].update(self._ids(batch))
        for _kind, _cls, table, sub, id_, _changes in self._updated:
            for t in (table, sub):
                if t is not None:
                    updated.setdefault(t.name, (t, set()))[1].add(id_)
        for name, (table, ids) in updated.items():
            ids -= inserted.get(name, (None, set()))[1]
            if ids:
                self._close_versions(table, ids, tx)
        for source, operation in ((inserted, 0), (updated, 1)):
            for name, (table, ids) in source.items():
                if ids:
                    copied.append((f"{name}_version", self._copy_versions(table, ids, tx, operation)))
        for _class_name, table, columns, rows in self._keyed:
            version = ops.version_table(table.name)
            bulk.insert_rows(conn, version, [*columns, "transaction_id", "end_transaction_id", "operation_type"],
                             [(*row, tx, None, 0) for row in rows])
            counts[version.name] = counts.get(version.name, 0) + len(rows)

        # ops_db_history, ops_event and the history lines, chunk by chunk.
        writer = _Writer(self, ops)
        server_side = conn.dialect.name == "postgresql" and self.system
        for batch in self._created:
            writer.created(batch, server_side)
        writer.updated(self._updated)
        for keyed in self._keyed:
            writer.created_rows(*keyed)
        writer.finish()
        for name, n in [*copied, *writer.copied]:
            counts[name] = counts.get(name, 0) + n.result()
        for name, n in writer.counts.items():
            counts[name] = counts.get(name, 0) + n
        self._created, self._updated, self._keyed = [], [], []
        return counts

    def _ids(self, batch: _Created) -> list[int]:
        at = batch.columns.index("id")
        return [row[at] for row in batch.rows]

    def _id_filter(self, ids: Iterable[int]) -> tuple[str, Any]:
        ids = sorted(set(ids))
        # The range first: ids drawn together lie close, and OPS's tables are large.
        span = f"id BETWEEN {int(ids[0])} AND {int(ids[-1])} AND "
        if self.conn.dialect.name == "postgresql":
            return span + "id = ANY(CAST(%s AS integer[]))", "{" + ",".join(map(str, ids)) + "}"
        return span + "id IN (SELECT value FROM json_each(?))", json.dumps(ids)

    def _close_versions(self, table: Table, ids: set, tx: int) -> None:
        version = _ops().version_table(table.name)
        where, param = self._id_filter(ids)
        mark = "%s" if self.conn.dialect.name == "postgresql" else "?"
        bulk.submit(self.conn, _execute_sql,
                    f"UPDATE {bulk.table_name(self.conn, version)} SET end_transaction_id = {mark} "
                    f"WHERE {where} AND end_transaction_id IS NULL", (tx, param))

    def _copy_versions(self, table: Table, ids: Iterable[int], tx: int, operation: int):
        """Queue the copy of the rows' version rows; returns the future count of rows copied."""
        version = _ops().version_table(table.name)
        names = [c.name for c in table.c if c.name in version.c]
        quote = self.conn.dialect.identifier_preparer.quote
        listed = ", ".join(quote(n) for n in names)
        where, param = self._id_filter(ids)
        mark = "%s" if self.conn.dialect.name == "postgresql" else "?"
        return bulk.submit(
            self.conn, _execute_sql,
            f"INSERT INTO {bulk.table_name(self.conn, version)} ({listed}, transaction_id, operation_type) "
            f"SELECT {listed}, {mark}, {mark} FROM {bulk.table_name(self.conn, table)} WHERE {where}",
            (tx, operation, param))


def _execute(conn: Connection, statement) -> int:
    return conn.execute(statement).rowcount


def _execute_sql(conn: Connection, sql: str, params) -> int:
    return conn.exec_driver_sql(sql, params).rowcount


def _same(a, b) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:  # '100.00' against Decimal('100'), a date against its ISO text
        return str(_plain(a)) == str(_plain(b)) or Decimal(str(a)) == Decimal(str(b))
    except (ArithmeticError, ValueError):
        return False


class _Writer:
    """Builds and writes ops_db_history, ops_event and the *_history rows, in chunks."""

    HISTORY_TABLES = ("agreement_history", "can_history", "project_history")

    def __init__(self, history: History, ops):
        self.h, self.ops = history, ops
        self.conn = history.conn
        tables = ops.OpsBase.metadata.tables
        self.t = {name: tables[f"ops.{name}"] if f"ops.{name}" in tables else tables[name]
                  for name in ("ops_db_history", "ops_event", *self.HISTORY_TABLES)}
        self.user = history.user_id
        now = history.now
        self.stamp = now if self.conn.dialect.name == "postgresql" else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        self.timestamp = now.strftime(TIMESTAMP_FORMAT)
        self.fy = fiscal_year(now)
        self.counts: dict[str, int] = {}
        self.copied: list[tuple[str, Any]] = []  # (version table, future count), see History.flush
        self.ids: dict[str, list[int]] = {name: [] for name in self.t}
        self.rows: dict[str, list[tuple]] = {name: [] for name in self.t}
        self._names = None  # lookups for messages, loaded on first need

    # rows -----------------------------------------------------------------------------------

    # As OPS writes them: the acting user in created_by only (updated_by stays NULL, as the ORM
    # leaves it); created_on and updated_on both the time of the write.
    def _history_row(self, event_type, details, class_name, row_key, changes):
        return (event_type, details, class_name, row_key, changes, self.user, None, self.stamp, self.stamp)

    def _event_row(self, event_type, details):
        return (event_type, "SUCCESS", details, self.user, None, self.stamp, self.stamp)

    def _line(self, table, values: dict):
        self.rows[table].append(values)

    def created(self, batch: _Created, server_side: bool = False) -> None:
        """The NEW ops_db_history rows of a batch of created entities, and their events and
        history lines: built here, or (``server_side``, PostgreSQL) by the server from the
        history rows just written, which spares sending and parsing each document twice."""
        info = self.h._info(batch.table)
        sub_info = self.h._info(batch.sub_table) if batch.sub_table is not None else None
        spec = EVENTS.get(batch.table.name) if batch.events else None
        details_of = EVENT_DETAILS.get(batch.table.name)
        convert = _converters(info, batch.columns)
        sub_convert = _converters(sub_info, batch.sub_columns) if sub_info else None
        at = batch.columns.index("id")
        dumps = _dumps
        table, class_name = batch.table.name, batch.class_name
        in_python = spec is not None and (not server_side or details_of is not None)
        for start in range(0, len(batch.rows), CHUNK):
            rows = batch.rows[start:start + CHUNK]
            subs = batch.sub_rows[start:start + CHUNK] if sub_convert else None
            history_ids = bulk.reserve_ids(self.conn, self.t["ops_db_history"], len(rows))
            event_ids = bulk.reserve_ids(self.conn, self.t["ops_event"], len(rows)) if spec else None
            out, events = [], []
            for i, row in enumerate(rows):
                doc = convert(row)
                if subs is not None:
                    doc.update(sub_convert(subs[i]))
                id_ = row[at]
                changes = dumps({k: {"new": v} for k, v in doc.items() if v})
                doc["display_name"] = _display_name(table, class_name, doc)
                details = dumps(doc)
                out.append((history_ids[i], *self._history_row("NEW", details, class_name, str(id_), changes)))
                if in_python:
                    document = dumps(details_of(doc)) if details_of else f'{{{dumps(spec[1])}: {details}}}'
                    events.append((event_ids[i], *self._event_row(spec[0], document)))
                if spec:
                    self._created_lines(table, event_ids[i], doc)
            self._write("ops_db_history", out)
            if events:
                self._write("ops_event", events)
            elif spec:
                self._events_sql(spec, history_ids, event_ids)
            self._write_lines()

    def created_rows(self, class_name: str, table: Table, columns: list, rows) -> None:
        """The NEW ops_db_history rows of rows keyed without an id (History.created_rows)."""
        convert = _converters(self.h._info(table), columns)
        key = [columns.index(c.name) for c in table.primary_key.columns]
        dumps = _dumps
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            history_ids = bulk.reserve_ids(self.conn, self.t["ops_db_history"], len(chunk))
            out = []
            for i, row in enumerate(chunk):
                doc = convert(row)
                row_key = "|".join(str(row[at]) for at in key)
                changes = dumps({k: {"new": v} for k, v in doc.items() if v})
                doc["display_name"] = f"{class_name}#{row_key}"
                out.append((history_ids[i], *self._history_row("NEW", dumps(doc), class_name, row_key, changes)))
            self._write("ops_db_history", out)

    def _events_sql(self, spec: tuple, hids: list[int], eids: list[int]) -> None:
        """PostgreSQL: the created entities' ops_event rows, made by the server from their
        ops_db_history rows (the same serialised object, so no document is sent or parsed
        twice), and in the same statement their version rows."""
        q = lambda t: bulk.table_name(self.conn, t)  # noqa: E731
        event, version = self.t["ops_event"], self.ops.version_table("ops_event")
        names = ", ".join(c.name for c in event.c if c.name in version.c)
        bulk.submit(
            self.conn, _execute_sql,
            f"WITH e AS (INSERT INTO {q(event)} (id, event_type, event_status, event_details, created_by, "
            "updated_by, created_on, updated_on) "
            f"SELECT m.eid, {_literal(spec[0])}, 'SUCCESS', jsonb_build_object(CAST(%(key)s AS text), h.event_details), "
            "%(user)s, NULL, %(now)s, %(now)s "
            "FROM unnest(CAST(%(hids)s AS integer[]), CAST(%(eids)s AS integer[])) AS m(hid, eid) "
            f"JOIN {q(self.t['ops_db_history'])} h ON h.id = m.hid RETURNING {names}) "
            f"INSERT INTO {q(version)} ({names}, transaction_id, operation_type) "
            f"SELECT {names}, %(tx)s, 0 FROM e",
            {"hids": _pg_array(hids), "eids": _pg_array(eids), "key": spec[1], "user": self.user,
             "now": self.stamp, "tx": self.h.transaction_id})
        for name in ("ops_event", "ops_event_version"):
            self.counts[name] = self.counts.get(name, 0) + len(eids)

    def updated(self, items: list[tuple]) -> None:
        """The UPDATED ops_db_history rows, events and history lines of updated entities. Their
        serialised object is the whole row as stored now (read back once per chunk)."""
        dumps = _dumps
        kinds: dict[tuple, tuple] = {}  # (table, subtype) -> (numeric columns, datetime columns)
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            history_ids = bulk.reserve_ids(self.conn, self.t["ops_db_history"], len(chunk))
            with_event = [item for item in chunk if (EVENTS.get(item[2].name) or (None,) * 4)[2]]
            event_ids = iter(bulk.reserve_ids(self.conn, self.t["ops_event"], len(with_event)))
            stored = self._stored(chunk)
            out, events = [], []
            for i, (_kind, class_name, table, sub, id_, changes) in enumerate(chunk):
                known = kinds.get((table, sub))
                if known is None:
                    infos = [self.h._info(table)] + ([self.h._info(sub)] if sub is not None else [])
                    known = kinds[(table, sub)] = (
                        {name for info in infos for name in info.numeric},
                        {name for info in infos for name in info.datetimes})
                numeric, datetimes = known
                doc = stored.get((table.name, id_)) or {"id": id_, **{k: n for k, (_o, n) in changes.items()}}
                for name in numeric:
                    if doc.get(name) is not None:
                        doc[name] = float(doc[name])
                for name in datetimes:  # SQLite hands stored datetimes back as text
                    if isinstance(doc.get(name), str):
                        doc[name] = doc[name].replace(" ", "T", 1)
                doc["display_name"] = _display_name(table.name, class_name, doc)
                details = dumps(doc)
                plain = {k: (_plain(o, k in numeric), _plain(n, k in numeric)) for k, (o, n) in changes.items()}
                out.append((history_ids[i], *self._history_row(
                    "UPDATED", details, class_name, str(id_),
                    dumps({k: {"new": n, "old": o} for k, (o, n) in plain.items()}))))
                spec = EVENTS.get(table.name)
                if spec and spec[2]:
                    event_id = next(event_ids)
                    update = {"owner_id": id_, "updated_by": self.user,
                              "changes": {k: {"new_value": n, "old_value": o} for k, (o, n) in plain.items()}}
                    if table.name == "can":
                        del update["updated_by"]
                    document = f'{{{dumps(spec[3])}: {dumps(update)}'
                    if table.name == "budget_line_item":
                        document += f', "bli": {details}'
                    events.append((event_id, *self._event_row(spec[2], document + "}")))
                    self._updated_lines(table.name, event_id, id_, changes, doc)
            self._write("ops_db_history", out)
            if events:
                self._write("ops_event", events)
            self._write_lines()

    def _stored(self, chunk: list[tuple]) -> dict:
        """The updated entities' rows as they now stand (parent and subtype columns), by
        (parent table, id): what OPS serialises is the whole object, not the changed columns."""
        wanted: dict[tuple, set] = {}
        for _kind, _cls, table, sub, id_, _changes in chunk:
            wanted.setdefault((table, sub), set()).add(id_)
        found: dict[tuple, dict] = {}
        for (table, sub), ids in wanted.items():
            for t in (table, sub):
                if t is None:
                    continue
                names = [c.name for c in t.c]
                for row in bulk.read_rows(self.conn, t, names, {"id": ids}):
                    found.setdefault((table.name, row[0]), {}).update(zip(names, row))
        return found

    # history lines ----------------------------------------------------------------------------

    def _agreement_line(self, event_id, agreement_id, title, message, kind, bli=None):
        if agreement_id is None:
            return
        self._line("agreement_history", {
            "agreement_id": agreement_id, "agreement_id_record": agreement_id,
            "budget_line_id": bli, "budget_line_id_record": bli, "ops_event_id": event_id,
            "history_title": title, "history_message": message, "timestamp": self.timestamp,
            "history_type": kind})

    def _can_line(self, event_id, can_id, title, message, kind):
        self._line("can_history", {
            "can_id": can_id, "ops_event_id": event_id, "history_title": title, "history_message": message,
            "timestamp": self.timestamp, "history_type": kind, "fiscal_year": self.fy})

    def _project_line(self, event_id, project_id, title, message, kind):
        self._line("project_history", {
            "project_id": project_id, "project_id_record": project_id, "ops_event_id": event_id,
            "history_title": title, "history_message": message, "timestamp": self.timestamp,
            "history_type": kind})

    def _who(self, system_text: str, user_text: str) -> str:
        return f"{SYSTEM_WORDING} {system_text}" if self.h.system else f"{self._actor()} {user_text}"

    def _created_lines(self, table: str, event_id: int, serial: dict) -> None:
        id_ = serial.get("id")
        if table == "budget_line_item":
            self._agreement_line(event_id, serial.get("agreement_id"), "New Budget Line Added",
                                 self._who(f"added new budget line {id_}.", f"added a new budget line {id_}."),
                                 "BUDGET_LINE_ITEM_CREATED", bli=id_)
        elif table == "agreement":
            self._agreement_line(event_id, id_, "Agreement Created",
                                 f"{SYSTEM_WORDING} created a new agreement." if self.h.system
                                 else f"Agreement created by {self._actor()}.", "AGREEMENT_CREATED")
        elif table == "services_component":
            name = serial.get("display_name")
            self._agreement_line(event_id, serial.get("agreement_id"), "New Services Component Added",
                                 self._who(f"added new services component {name}.",
                                           f"added a new services component {name}."),
                                 "SERVICE_COMPONENT_CREATED")
        elif table == "can":
            self._can_line(event_id, id_, f"FY {self.fy} Data Import",
                           f"FY {self.fy} CAN Funding Information imported from CANBACs", "CAN_DATA_IMPORT")
        elif table == "project":
            self._project_line(event_id, id_, "Project Created",
                               f"{SYSTEM_WORDING} created a new project." if self.h.system
                               else f"Project created by {self._actor()}.", "PROJECT_CREATED")

    def _updated_lines(self, table: str, event_id: int, id_: int, changes: dict, new: dict) -> None:
        for key, (old, value) in changes.items():
            if table == "budget_line_item":
                self._bli_line(event_id, id_, new.get("agreement_id"), key, old, value)
            elif table == "agreement":
                self._agreement_change(event_id, id_, key, old, value)
            elif table == "can":
                self._can_change(event_id, id_, key, old, value)
            elif table == "project":
                self._project_change(event_id, id_, key, old, value)

    def _bli_line(self, event_id, bli, agreement_id, key, old, new):
        if key == "can_id":
            names = self._lookup("can", "number")
            old_s = f"CAN {names[old]}" if old in names else "None"
            new_s = f"CAN {names[new]}" if new in names else "None"
            title, what = "Change to CAN", f"changed the CAN for BL {bli} from {old_s} to {new_s}."
        elif key == "date_needed":
            title = "Change to Obligate By"
            what = f"changed the Obligate By date for BL {bli} from {_us_date(old)} to {_us_date(new)}."
        elif key == "amount":
            title = "Change to Amount"
            what = f"changed the amount for BL {bli} from ${_money(old)} to ${_money(new)}."
        elif key == "line_description":
            title, what = "Change to Line Description", f"changed the line description for BL {bli}."
        elif key == "service_component_name_for_sort":
            title = "Change to Services Component"
            what = f"changed the services component for BL {bli} from {old} to {new}."
        else:
            return
        self._agreement_line(event_id, agreement_id, title, self._who(what, what), "BUDGET_LINE_ITEM_UPDATED", bli=bli)

    def _agreement_change(self, event_id, agreement_id, key, old, new):
        if key in AGREEMENT_SIMPLE:
            title, label = AGREEMENT_SIMPLE[key]
            what = f"changed the {label} from {_label(old)} to {_label(new)}."
            title = f"Change to {title}"
        elif key == "description":
            title = "Change to Description"
            what = None
            message = self._who("changed the agreement description.", "edited the agreement description.")
        elif key == "notes":
            title, what = "Change to Notes", "changed the notes."
        elif key in ("vendor_id", "product_service_code_id"):
            names = self._lookup("vendor" if key == "vendor_id" else "product_service_code", "name")
            label = "vendor" if key == "vendor_id" else "product service code"
            title = "Change to Vendor" if key == "vendor_id" else "Change to Product Service Code"
            what = f"changed the {label} from {names.get(old, 'None')} to {names.get(new, 'None')}."
        elif key in ("project_officer_id", "alternate_project_officer_id"):
            names = self._users()
            label = "COR" if key == "project_officer_id" else "Alternate COR"
            title = f"Change to {label}"
            what = f"changed the {label} from {names.get(old, 'TBD')} to {names.get(new, 'TBD')}."
        elif key == "agreement_reason":
            title, what = "Change to Reason for Agreement", \
                f"changed the Reason for Agreement from {_label(old)} to {_label(new)}."
        else:
            return  # OPS writes no line for the other properties either
        if what is not None:
            message = self._who(what, what)
        self._agreement_line(event_id, agreement_id, title, message, "AGREEMENT_UPDATED")

    def _can_change(self, event_id, can_id, key, old, new):
        if key == "nick_name":
            message = (f"Nickname changed from {old} to {new} during FY {self.fy} data import" if self.h.system
                       else f"{self._actor()} edited the nickname from {old} to {new}")
            self._can_line(event_id, can_id, "Nickname Edited", message, "CAN_NICKNAME_EDITED")
        elif key == "description":
            self._can_line(event_id, can_id, "Description Edited", f"{self._actor()} edited the description",
                           "CAN_DESCRIPTION_EDITED")
        elif key == "portfolio_id":
            portfolios = self._portfolios()
            was, now = portfolios.get(old), portfolios.get(new)
            if was is None or now is None:
                return
            message = (f"CAN portfolio changed from {was[0]} to {now[0]} during FY {self.fy} data import"
                       if self.h.system else f"{self._actor()} changed the portfolio from {was[0]} to {now[0]}")
            self._can_line(event_id, can_id, "CAN Portfolio Edited", message, "CAN_PORTFOLIO_EDITED")
            if was[1] != now[1]:
                message = (f"CAN division changed from {was[2]} to {now[2]} during FY {self.fy} data import"
                           if self.h.system else f"{self._actor()} changed the division from {was[2]} to {now[2]}")
                self._can_line(event_id, can_id, "CAN Division Edited", message, "CAN_DIVISION_EDITED")

    def _project_change(self, event_id, project_id, key, old, new):
        labels = {"RESEARCH": "Research", "ADMINISTRATIVE_AND_SUPPORT": "Admin & Support"}
        if key == "title":
            title, kind, what = "Change to Project Title", "PROJECT_TITLE_EDITED", \
                f"changed the Project Title from {old} to {new}."
        elif key == "short_title":
            title, kind, what = "Change to Project Nickname", "PROJECT_SHORT_TITLE_EDITED", \
                f"changed the Project Nickname from {old or 'TBD'} to {new or 'TBD'}."
        elif key == "description":
            title, kind, what = "Change to Description", "PROJECT_DESCRIPTION_EDITED", \
                "changed the Project Description."
        elif key == "url":
            title, kind, what = "Change to URL", "PROJECT_URL_EDITED", \
                f"changed the URL from {old or 'None'} to {new or 'None'}."
        elif key == "project_type":
            title, kind = "Change to Project Type", "PROJECT_TYPE_EDITED"
            what = f"changed the Project Type from {labels.get(old, old)} to {labels.get(new, new)}."
        else:
            return
        self._project_line(event_id, project_id, title, self._who(what, what), kind)

    # lookups for messages ---------------------------------------------------------------------

    def _lookup(self, table: str, column: str) -> dict:
        cache = self.__dict__.setdefault("_lookups", {})
        if (table, column) not in cache:
            t = self.h.table(table)
            cache[(table, column)] = dict(self.conn.execute(select(t.c.id, t.c[column])).all())
        return cache[(table, column)]

    def _users(self) -> dict:
        cache = self.__dict__.setdefault("_lookups", {})
        if "users" not in cache:
            t = self.h.table("ops_user")
            cache["users"] = {i: _full_name(f, l, e) for i, f, l, e in self.conn.execute(
                select(t.c.id, t.c.first_name, t.c.last_name, t.c.email)).all()}
        return cache["users"]

    def _actor(self) -> str:
        return self._users().get(self.user, "Unknown User")

    def _portfolios(self) -> dict:
        cache = self.__dict__.setdefault("_lookups", {})
        if "portfolios" not in cache:
            p, d = self.h.table("portfolio"), self.h.table("division")
            divisions = dict(self.conn.execute(select(d.c.id, d.c.name)).all())
            cache["portfolios"] = {i: (name, div, divisions.get(div)) for i, name, div in self.conn.execute(
                select(p.c.id, p.c.name, p.c.division_id)).all()}
        return cache["portfolios"]

    # writing -----------------------------------------------------------------------------------

    COLUMNS = {
        "ops_db_history": ("id", "event_type", "event_details", "class_name", "row_key", "changes",
                           "created_by", "updated_by", "created_on", "updated_on"),
        "ops_event": ("id", "event_type", "event_status", "event_details",
                      "created_by", "updated_by", "created_on", "updated_on"),
    }

    def _write(self, name: str, rows: list[tuple]) -> None:
        if not rows:
            return
        bulk.insert_rows(self.conn, self.t[name], self.COLUMNS[name], rows)
        self.ids[name].extend(row[0] for row in rows)
        self.counts[name] = self.counts.get(name, 0) + len(rows)

    def _write_lines(self) -> None:
        for name in self.HISTORY_TABLES:
            lines = self.rows[name]
            if not lines:
                continue
            self.rows[name] = []
            columns = ["id", *lines[0], "created_by", "updated_by", "created_on", "updated_on"]
            ids = bulk.reserve_ids(self.conn, self.t[name], len(lines))
            tail = (None, None, self.stamp, self.stamp)  # OPS's history functions set no user
            self._write_table(name, columns, [(ids[i], *line.values(), *tail) for i, line in enumerate(lines)])

    def _write_table(self, name, columns, rows) -> None:
        bulk.insert_rows(self.conn, self.t[name], columns, rows)
        self.ids[name].extend(row[0] for row in rows)
        self.counts[name] = self.counts.get(name, 0) + len(rows)

    def finish(self) -> None:
        for name, ids in self.ids.items():
            if ids:
                self.copied.append((f"{name}_version", self.h._copy_versions(self.t[name], ids,
                                                                             self.h.transaction_id, 0)))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pg_array(ids: Sequence[int]) -> str:
    return "{" + ",".join(map(str, ids)) + "}"


def _full_name(first, last, email) -> str:
    name = " ".join(part for part in (first, last) if part)
    return name or email or "Unknown User"


def _display_name(table: str, class_name: str, serial: dict) -> str:
    if table == "budget_line_item":
        return f"BL {serial.get('id')}"
    if table == "agreement":
        return serial.get("name")
    if table == "can":
        return serial.get("number")
    if table == "project":
        return serial.get("title")
    if table == "services_component":
        return serial.get("display_name_for_sort") or f"SC{serial.get('number')}"
    if table == "contact":  # OPS's Contact.display_name
        return f"{serial.get('first_name')} {serial.get('last_name')}"
    if table == "vendor":  # OPS's Vendor.display_name
        return serial.get("duns")
    return f"{class_name}#{serial.get('id')}"


def _converters(info: _Columns, columns: Sequence[str]):
    """A function turning one row tuple into its dict for serialising: numeric columns become
    numbers here (their text would be truthy even for 0); every other value that JSON cannot
    hold (dates, datetimes, Decimals, enums, UUIDs) is converted by :data:`_dumps` as it writes."""
    columns = list(columns)
    numeric = [(i, name) for i, name in enumerate(columns) if name in info.numeric]

    def convert(row):
        doc = dict(zip(columns, row))
        for i, name in numeric:
            value = row[i]
            if value is not None:
                doc[name] = float(value)
        return doc

    return convert


_converted: dict = {}


def _default(value):
    """OPS's convert_for_jsonb for what JSON cannot hold, remembered: a load's rows share a
    handful of timestamps and dates, converted once each."""
    try:
        return _converted[value]
    except (KeyError, TypeError):
        result = _plain(value)
        if len(_converted) < 4096:
            try:
                _converted[value] = result
            except TypeError:
                pass
        return result


def _dumps(value) -> str:
    """JSON text of ``value``: orjson (four times the standard encoder's speed on a large load's
    documents), with :func:`_default` for what it cannot hold (Decimals, ...). orjson writes
    datetimes, dates and UUIDs itself, as ``isoformat()`` and ``str()`` do; enum members, which
    it would write by value, never reach it (rows carry enum names). Keys that are not text
    (never in a row) are written as text. Separators carry no spaces: jsonb keeps no spacing."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()


# -- the system user ------------------------------------------------------------------------------

def system_user(conn: Connection, *, email: str = DEFAULT_EMAIL, oidc_id: str = DEFAULT_OIDC,
                history: History | None = None, now: dt.datetime | None = None) -> int:
    """The id of OPS's system user (found by its ``oidc_id``), created when missing the way OPS's
    loaders create it. Its creation is recorded in ``history`` (written by its flush, in the same
    transaction); without one, it is recorded and written at once."""
    users = _ops().OpsBase.metadata.tables["ops.ops_user"]
    key = uuid.UUID(str(oidc_id))
    found = conn.execute(select(users.c.id).where(users.c.oidc_id == key)).scalar()
    if found is not None:
        return found
    recorder = history or History(conn, now=now)
    user_id = bulk.reserve_ids(conn, users, 1)[0]
    row = {"id": user_id, "oidc_id": key, "hhs_id": None, "email": email, "first_name": None,
           "last_name": None, "division": None, "status": "INACTIVE", "created_by": None,
           "updated_by": None, "created_on": recorder.now, "updated_on": recorder.now}
    conn.execute(insert(users).values(**row))
    recorder.created("user", "User", users, row, events=False)
    if history is None:
        recorder.user_id = user_id
        recorder.flush()
    return user_id

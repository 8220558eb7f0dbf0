"""The generic entity layer: how a dataset declares what it loads, and the one upsert that loads it.

A dataset declares its entities as :class:`EntitySpec` values: the OPS table (an ORM class of
:mod:`ops_pipeline.db.ops_models`), the natural key that finds a stored row, the staged fields it
writes, the links to other entities (with what happens when one cannot be resolved), the subtype
table of a joined-table hierarchy, and its update policy. :class:`Loader` loads the staged entity
files of a run with those declarations and nothing else: it has no list of entity kinds of its own.

Writing as OPS writes (OPS's schema map, ``tests/ops_schema/README.md``):

- a parent row and its subtype row share one id, drawn from the parent's sequence, and the
  discriminator names the subtype;
- every NOT NULL column that has only an ORM default gets that default (``EntitySpec.defaults``,
  ``Subtype.defaults``);
- ``created_by``/``updated_by`` are the acting (system) user, ``created_on``/``updated_on`` the
  load's time (UTC);
- every write is also handed to the history recorder (:mod:`ops_pipeline.db.history`), which
  writes the Continuum versions, ``ops_db_history``, ``ops_event`` and the history lines in the
  same transaction.

Links are resolved against the entities of the same run first and then against the database, so
that a later file can refer to what an earlier one loaded. What a link that cannot be resolved
does is declared (:class:`Link`): ``warn`` loads the record without it and reports a warning
finding with the cell; ``reject`` leaves the record out with an error finding. A link OPS needs
to create a record (``create_requires``: a CAN's portfolio) keeps a new record from being created
when it is missing (a warning finding); records that link to it then see it as unresolved.

A spec may write columns of its subtype tables (``Subtype.columns``: a contract's vendor lives on
``contract_agreement``); they are read back, compared, inserted and updated there. Columns OPS holds
unique beyond the key (``EntitySpec.unique``: an agreement's lower(name) per type) are checked
before anything is written: a record whose values another record holds is refused with an error
finding, never left to the database's error and never an overwrite.

Rows travel in the comparable form of :mod:`ops_pipeline.db.bulk` (money as text with its
column's places, dates as ISO text), so staged and stored rows compare as plain tuples and a
reload that changes nothing writes nothing.
"""
from __future__ import annotations

import datetime as dt
import itertools
import operator
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import Date, DateTime, Numeric
from sqlalchemy.engine import Connection

from ..errors import PipelineError
from ..findings import CODES, Finding, make_finding
from . import bulk

AUDIT = ("created_by", "updated_by", "created_on", "updated_on")


def fold(text: object) -> object:
    """Natural keys compared ignoring case and runs of spaces (OPS: ``lower(name)``)."""
    return " ".join(text.split()).casefold() if isinstance(text, str) else text


@dataclass(frozen=True)
class Key:
    """How a staged record finds the stored row it stands for.

    ``columns``: the natural key (staged key fields of the same names; ``folded`` ones compare
    ignoring case and spacing). ``by_id``: a staged key field holding the row's own OPS id (a
    record with it is that row, inserted with that id when OPS does not have it). ``signature``:
    for records without an id, the stored row whose these columns (the written ones, links
    included) are the same; each stored row matches one record at most, lowest id first.
    """

    columns: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()
    by_id: str | None = None
    signature: tuple[str, ...] = ()
    #: key columns that may be empty (a services component without a sub-component)
    nullable: tuple[str, ...] = ()
    #: key column -> the name of this entity's link whose target's id it holds: the staged key
    #: gives that target's own key under the link's name (a services component is keyed by its
    #: agreement's id, which the file knows only by the agreement's name and type)
    via: dict[str, str] = field(default_factory=dict)
    #: what a record staged with an id OPS does not have does: ``insert`` it with that id, or
    #: ``reject`` it (an error finding with ``unknown_id_code``, on the dataset's ``id_field``)
    unknown_id: str = "insert"
    unknown_id_code: str = "cannot-load"
    id_field: str | None = None
    #: (owner spec, owner's column holding this row's id): a row with no key of its own that one
    #: owner row points to (a CAN's funding details). ``columns`` are the owner's key columns and
    #: the staged key is the owner's key; the stored row is the one the stored owner points to.
    owned_by: tuple[str, str | None] | None = None
    #: for an owned row the owner points to through an association table (a vendor's contact, in
    #: ``vendor_contacts``): (that table, its column holding the owner's id, its column holding
    #: this row's id). The stored row is the owner's associated row of lowest id; a new row gets
    #: its association row too (written and recorded with it).
    through: tuple[str, str, str] | None = None

    def of(self, key: dict | None) -> tuple | None:
        """A staged key (or a link) as the tuple that identifies it, or None."""
        if not key or not self.columns:
            return None
        values = tuple(map(key.get, self.columns))
        if None in values and any(v is None for c, v in zip(self.columns, values) if c not in self.nullable):
            return None
        if self.folded:
            values = tuple(fold(v) if c in self.folded else v for c, v in zip(self.columns, values))
        return values


@dataclass(frozen=True)
class Link:
    """A reference from one entity to another: staged as ``links[name]`` (the target's key)."""

    name: str
    target: str  # the spec it refers to
    column: str | None  # the foreign-key column written on this entity's parent table; None: the
    # link is resolved (and its absence reported as declared) but nothing is written
    missing: str = "warn"  # warn | reject | ignore: what a link that cannot be resolved does (module
    # doc); ignore: loaded without it and no finding (another record's finding already says it)
    field: str | None = None  # the dataset's column the link comes from (for the finding's cell)
    code: str = "unresolved-link"
    explain: str = ""  # why it could not be resolved, in words for the finding
    #: A new record is not created without this link (OPS needs it), whether the link was not
    #: given or could not be resolved: a warning finding, and the record counts as skipped.
    create_requires: bool = False


@dataclass(frozen=True)
class Subtype:
    """The subtype table of a joined-table hierarchy, chosen per record."""

    column: str  # the discriminator, on the parent table
    models: dict[str, type]  # discriminator value -> subtype ORM class
    value: str | None = None  # staged values field that holds the discriminator...
    from_link: tuple[str, str] | None = None  # ...or (link name, field of the link)
    default: str | None = None  # when neither gives one (OPS's ORM default)
    #: the code of the error a record gets when OPS holds its key as another subtype (MAPS: a
    #: budget-line id another kind of line already has is a KEY_COLLISION)
    conflict_code: str = "cannot-load"
    defaults: dict[str, dict] = field(default_factory=dict)  # value -> NOT NULL ORM defaults
    #: value -> why the pipeline cannot create a new record of that subtype (OPS needs what the
    #: file does not give): such a record is not created (a warning; it counts as skipped), and
    #: records that link to it see it as unresolved.
    refuse: dict[str, str] = field(default_factory=dict)
    fixed: bool = True  # a stored row never changes subtype (that would delete a row)
    #: value -> the spec's written columns (fields or link columns) that live on that subtype's
    #: table, not the parent's (a contract's vendor, a grant's total funding); a record of another
    #: subtype leaves them empty
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def held(self) -> frozenset:
        """Every written column some subtype table holds."""
        return frozenset(c for names in self.columns.values() for c in names)


@dataclass(frozen=True)
class Derived:
    """A column OPS's ORM works out from a linked record (a display name): computed by the load
    from ``reads`` of the record ``link`` points to, for every record, before it is compared."""

    column: str  # one of the spec's fields
    link: str  # the link whose target is read
    reads: tuple[str, ...]  # the target's columns handed to compute
    #: (target's reads as a dict, or None without a target; the record's ``uses`` fields; its
    #: subtype) -> value
    compute: Callable[[dict | None, dict, str | None], Any]
    uses: tuple[str, ...] = ()  # the record's own fields compute reads


@dataclass(frozen=True)
class Agree:
    """A staged value that is checked, not stored: it must name the record that the record ``link``
    points to holds in ``column`` (a line's Portfolio against its CAN's portfolio). Disagreement,
    or a value naming no record of ``target``, is a warning finding on the dataset's ``field``."""

    field: str  # the staged value (declared in not_loaded, since OPS does not store it)
    link: str
    column: str  # the linked record's foreign key compared
    target: str  # the spec that column refers to
    key: str  # the target's key column the staged value gives
    code: str


@dataclass(frozen=True)
class Ask:
    """A link never written on a stored record (its update policy keeps it), whose staged target
    differing from the stored one is a question for the report, never an overwrite."""

    link: str
    code: str
    what: str  # what the link is, in words ("procurement shop")


@dataclass(frozen=True)
class Unique:
    """Columns OPS holds unique (a unique index) that are not the spec's key: a staged record whose
    values for them are another record's (stored in OPS, or given earlier in the load) is refused
    with an error finding before anything is written, never left to the database's error. The
    stored rows are read whole: for tables of a few thousand rows (agreements)."""

    columns: tuple[str, ...]  # written columns of the parent table
    folded: tuple[str, ...] = ()  # compared in lower case, as OPS's index does (lower(name))
    code: str = "cannot-load"
    field: str | None = None  # the dataset's field the finding names (its cell)


@dataclass(frozen=True)
class EntitySpec:
    name: str  # the staged entity kind, and the lineage's entity name
    model: type  # the parent ORM class
    key: Key
    fields: tuple[str, ...] = ()  # staged values written to the parent row
    links: tuple[Link, ...] = ()
    subtype: Subtype | None = None
    update: str = "never"  # never | given (staged values that are not empty) | all
    defaults: dict = field(default_factory=dict)  # NOT NULL columns with only an ORM default
    insert: bool = True  # False: a reference table (portfolios): looked up, never written
    not_loaded: dict[str, str] = field(default_factory=dict)  # staged values OPS has no column for, and why
    label: str = ""  # what people call it ("CAN", "budget line"); the name with spaces by default
    derived: tuple[Derived, ...] = ()
    agree: tuple[Agree, ...] = ()
    ask: tuple[Ask, ...] = ()
    unique: tuple[Unique, ...] = ()
    #: what a new record takes for a written field it leaves empty (OPS's default; a stored row
    #: updated with the policy ``given`` keeps its own value instead)
    when_empty: dict = field(default_factory=dict)
    #: staged values (fields or not_loaded ones) a *new* record must have: without one it is not
    #: created (a warning finding with ``create_code`` on that value's column; it counts as
    #: skipped, and records that link to it see it as unresolved). A stored record is updated.
    create_requires: tuple[str, ...] = ()
    create_code: str = "not-created"
    create_explain: str = ""
    #: with update="given": fields whose blank staged value is written all the same (a blank wipes)
    blank_replaces: tuple[str, ...] = ()

    @property
    def called(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def table(self):
        return self.model.__table__

    @property
    def class_name(self) -> str:
        return self.model.__name__

    def written(self) -> tuple[str, ...]:
        """The columns the load compares and writes: fields, then link columns (the parent's, and
        those a subtype table holds, ``Subtype.columns``)."""
        return self.fields + tuple(link.column for link in self.links if link.column)

    def column(self, name: str):
        """A written column, on the parent table or the subtype table that holds it."""
        if name in self.table.c:
            return self.table.c[name]
        for model in (self.subtype.models.values() if self.subtype else ()):
            if name in model.__table__.c:
                return model.__table__.c[name]
        raise SpecError(f"{self.name}: no column {name} on {self.table.name} or its subtype tables")


class SpecError(PipelineError):
    """A dataset's declaration does not fit its staged files (a programming error, said in one line)."""


# -- comparable form ---------------------------------------------------------------------------

_MONEY = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]{2}")
_CENT = Decimal("0.01")


def money_text(value) -> str | None:
    """An amount as text with exactly two places, the form numeric(12,2) reads back as."""
    if value is None:
        return None
    if value.__class__ is str and _MONEY.fullmatch(value) and value != "-0.00":
        return value
    amount = Decimal(str(value)).quantize(_CENT)
    return "0.00" if amount == 0 else str(amount)


def decimal_text(places: int) -> Callable:
    quantum = Decimal(1).scaleb(-places)

    def convert(value):
        if value is None:
            return None
        amount = Decimal(str(value)).quantize(quantum)
        return str(abs(amount)) if amount == 0 else str(amount)

    return convert


def date_text(value) -> str | None:
    """A date as ISO text (staged dates are ISO already)."""
    if value is None:
        return None
    if value.__class__ is str:
        return value[:10]
    return value.isoformat()[:10]


def _same(value):
    return value


def converter(column) -> Callable:
    """The function that brings a staged value of ``column`` to the comparable form."""
    kind = column.type
    if isinstance(kind, Numeric) and kind.scale is not None:
        return money_text if kind.scale == 2 else decimal_text(kind.scale)
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        return date_text
    return _same


def _subsets(items: list) -> Iterator[tuple]:
    """The non-empty subsets of ``items``, smallest first."""
    for size in range(1, len(items) + 1):
        yield from itertools.combinations(items, size)


# -- the loader --------------------------------------------------------------------------------

class Staged:
    """One staged record on its way in."""

    __slots__ = ("key", "explicit_id", "row", "kind", "lineage", "names", "links", "absent", "checked", "lacks")

    def __init__(self, key, explicit_id, row, kind, lineage, names, links, absent=(), checked=None, lacks=None):
        self.key = key  # the natural key (or None)
        self.explicit_id = explicit_id  # the record's own OPS id, when staged with one
        self.row = row  # the written columns in spec.written() order, comparable form
        self.kind = kind  # the discriminator value, when the record gives one
        self.lineage = lineage  # (sheet, rows)
        self.names = names  # the staged key as given (for messages)
        self.links = links  # each link's target key, or None
        self.absent = absent  # positions of fields the record does not give: a stored row keeps them
        self.checked = checked  # the staged values of the spec's Agree checks, or None
        self.lacks = lacks  # the first of the spec's create_requires the record does not give


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0

    def as_dict(self) -> dict:
        """Every count, always (a machine reading the report finds the same keys every time):
        skipped are new records OPS cannot take (a warning says why), rejected those refused."""
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "skipped": self.skipped, "rejected": self.rejected}


class NoHistory:
    """A recorder that records nothing (tests of the upsert alone). The load always records
    OPS's history (ops_pipeline.db.history.History has the same three methods)."""

    def created_many(self, *args, **kwargs) -> None:
        pass

    def created_rows(self, *args, **kwargs) -> None:
        pass

    def updated(self, *args, **kwargs) -> bool:
        return True

    def flush(self) -> dict:
        return {}


class Loader:
    """Loads one run's staged entity files with a dataset's declarations, on one connection."""

    def __init__(self, conn: Connection, specs: Sequence[EntitySpec], *, user_id: int | None,
                 now: dt.datetime, recorder=None, columns: dict[str, str] | None = None,
                 trace: Callable[[str, int, tuple], None] | None = None,
                 codes: dict[str, tuple[str, str]] | None = None):
        self.conn = conn
        self.codes = codes or CODES  # the dataset's finding codes (its own beside the generic ones)
        self.specs = {spec.name: spec for spec in specs}
        self.user_id = user_id
        self.now = now
        self.recorder = recorder or NoHistory()
        self.columns = columns or {}  # the dataset's field -> column letter, for findings
        self.trace = trace
        self.ids: dict[str, dict[tuple, int]] = {name: {} for name in self.specs}
        self.unresolvable: dict[str, set] = {name: set() for name in self.specs}
        self._unresolved_messages: dict[tuple, Finding] = {}
        #: per target label: [references to records OPS lacks, the set of those records' keys]
        self._unresolved_refs: dict[str, list] = {}
        self.findings: list[Finding] = []
        #: questions for the report (Ask): {"code", "question", "row"}
        self.questions: list[dict] = []
        self.counts: dict[str, Counts] = {}
        self._keyers: dict[str, Callable] = {}

    # -- public -------------------------------------------------------------------------------
    def load(self, staged_files: dict[str, Iterable[dict]]) -> dict:
        """Load each kind in the given (dependency) order. Returns counts per kind."""
        unknown = [kind for kind in staged_files if kind not in self.specs or not self.specs[kind].insert]
        if unknown:
            raise SpecError(f"no entity spec of this dataset loads {', '.join(sorted(unknown))}")
        for kind, records in staged_files.items():
            self.counts[kind] = Counts()
            self._upsert(self.specs[kind], records)
        return {kind: counts.as_dict() for kind, counts in self.counts.items()}

    def unresolved(self) -> dict[str, dict]:
        """The references this load could not resolve, by the entity they point to (its label):
        how many references, to how many distinct records OPS does not have."""
        return {self.specs[name].called: {"references": count, "records": len(keys)}
                for name, (count, keys) in sorted(self._unresolved_refs.items())}

    # -- keys -----------------------------------------------------------------------------------
    def keyer(self, spec: EntitySpec) -> Callable[[dict | None], tuple | None]:
        """The function that turns a staged key of ``spec`` (or a link to it) into the tuple that
        identifies it. A key column given through a link (``Key.via``) takes the id this load
        knows for the linked record's own key: the linked kind loads first."""
        keyer = self._keyers.get(spec.name)
        if keyer is not None:
            return keyer
        key = spec.key
        if not key.via:
            keyer = key.of
        else:
            links = {link.name: link for link in spec.links}
            parts = [(c, self.specs[links[key.via[c]].target] if c in key.via else None, key.via.get(c))
                     for c in key.columns]

            def keyer(value: dict | None) -> tuple | None:
                if not value:
                    return None
                out = []
                for column, target, link_name in parts:
                    if target is None:
                        part = value.get(column)
                        if part is None and column not in key.nullable:
                            return None
                    else:
                        part = self.ids[target.name].get(self.keyer(target)(value.get(link_name)))
                        if part is None:
                            return None
                    out.append(part)
                return tuple(out)
        self._keyers[spec.name] = keyer
        return keyer

    # -- resolving links ----------------------------------------------------------------------
    def resolve(self, spec: EntitySpec, keys: Iterable[tuple]) -> None:
        """Look up in the database the keys of ``spec`` not yet known to this load."""
        wanted = {k for k in keys if k is not None and k not in self.ids[spec.name]
                  and k not in self.unresolvable[spec.name]}
        if not wanted:
            return
        found = (self._stored_owned if spec.key.owned_by else self._stored_by_key)(spec, wanted, ())
        for key, (row_id, _kind, _row) in found.items():
            self.ids[spec.name][key] = row_id
        self.unresolvable[spec.name].update(wanted - set(found))

    def _stored_owned(self, spec: EntitySpec, keys: set, written: tuple[str, ...],
                      owner_ids: dict | None = None) -> dict:
        """Stored rows of an owned spec (Key.owned_by), by their owner's key: key -> (id, None, row).
        ``owner_ids``: key -> the owner's own id, when the record gives it (the owner is that row)."""
        owner_name, column = spec.key.owned_by
        owner = self.specs[owner_name]
        collided: dict = {}
        if spec.key.through:
            pointers = self._associated(spec, owner, keys)
        else:
            by_owner = owner_ids or {}
            pointers = {key: row[0] for key, (_id, _kind, row) in
                        self._stored_by_key(owner, keys - set(by_owner), (column,)).items() if row[0] is not None}
            if by_owner:
                names = owner.key.columns
                rows = bulk.read_rows(self.conn, owner.table, ("id", column, *names), {"id": set(by_owner.values())})
                points = {row[0]: row[1] for row in rows}
                keys_of = {row[0]: owner.key.of(dict(zip(names, row[2:]))) for row in rows}
                pointers.update({key: points[i] for key, i in by_owner.items() if points.get(i) is not None})
                # An owner whose key OPS holds unique (a CAN's number) and another stored owner has
                # is refused (EntitySpec.unique), so its owned row is neither made nor taken.
                unique = any(set(u.columns) <= set(names) for u in owner.unique)
                moved = {key for key, i in by_owner.items() if keys_of.get(i) != key} if unique else set()
                for key, (other, _k, _r) in (self._stored_by_key(owner, moved, ()) if moved else {}).items():
                    if other != by_owner[key]:
                        collided[key] = _Collision(other)
                        pointers.pop(key, None)
        if not pointers:
            return collided
        rows = bulk.read_rows(self.conn, spec.table, ("id", *written), {"id": set(pointers.values())})
        by_id = {row[0]: list(row[1:]) for row in rows}
        found = {key: (row_id, None, by_id[row_id]) for key, row_id in pointers.items() if row_id in by_id}
        found.update(collided)
        return found

    def _owner_ids(self, owner: EntitySpec, keys: set) -> dict:
        """key -> the owner's id, known to this load (the owner loads first) or stored."""
        known = self.ids[owner.name]
        missing = {k for k in keys if k not in known}
        stored = self._stored_by_key(owner, missing, ()) if missing else {}
        found = {k: known.get(k) for k in keys}
        found.update({k: row_id for k, (row_id, _kind, _row) in stored.items()})
        return {k: v for k, v in found.items() if v is not None}

    def _association(self, spec: EntitySpec):
        name, owner_column, own_column = spec.key.through
        table = spec.table.metadata.tables[f"{spec.table.schema}.{name}" if spec.table.schema else name]
        return table, owner_column, own_column

    def _associated(self, spec: EntitySpec, owner: EntitySpec, keys: set) -> dict:
        """key -> the id of the row the owner is associated with (its lowest)."""
        owners = self._owner_ids(owner, keys)
        if not owners:
            return {}
        table, owner_column, own_column = self._association(spec)
        first: dict = {}
        for owner_id, own_id in sorted(bulk.read_rows(self.conn, table, (owner_column, own_column),
                                                      {owner_column: set(owners.values())})):
            first.setdefault(owner_id, own_id)
        return {k: first[o] for k, o in owners.items() if o in first}

    def _associate(self, spec: EntitySpec, inserts: list[Staged], assigned: dict) -> None:
        """The association rows of new owned rows (Key.through), written and recorded."""
        table, owner_column, own_column = self._association(spec)
        owners = self._owner_ids(self.specs[spec.key.owned_by[0]], {item.key for item in inserts})
        audit = tuple(c for c in AUDIT if c in table.c)
        stamp = {"created_by": self.user_id, "updated_by": self.user_id, "created_on": self.now,
                 "updated_on": self.now}
        columns = (owner_column, own_column, *audit)
        rows = [(owners[item.key], assigned[id(item)], *(stamp[c] for c in audit))
                for item in inserts if item.key in owners]
        if rows:
            bulk.insert_rows(self.conn, table, columns, rows)
            name = "".join(part.capitalize() for part in table.name.split("_"))  # OPS's class: VendorContacts
            self.recorder.created_rows(name, table, columns, rows)

    def _stored_by_key(self, spec: EntitySpec, keys: set, written: tuple[str, ...]) -> dict:
        """Stored rows of ``spec`` with the given natural keys: key -> (id, discriminator, row)."""
        table = spec.table
        discriminator = (spec.subtype.column,) if spec.subtype else ()
        held = spec.subtype.held() if spec.subtype else frozenset()
        full, written = written, tuple(c for c in written if c not in held)
        names = ("id", *spec.key.columns, *discriminator, *written)
        width = len(spec.key.columns)
        result: dict = {}
        if spec.key.folded or len(spec.key.columns) > 1:
            # Reference tables are small; a folded key cannot use an index anyway.
            rows = bulk.read_all(self.conn, table, names)
        else:
            rows = bulk.read_rows(self.conn, table, names, {spec.key.columns[0]: [k[0] for k in keys]})
        for row in rows:
            key = spec.key.of(dict(zip(spec.key.columns, row[1:1 + width])))
            if key in keys and key not in result:  # lowest id first (rows come sorted by id)
                kind = row[1 + width] if discriminator else None
                result[key] = (row[0], kind, list(row[1 + width + len(discriminator):]))
        if held and full != written:
            self._with_subtype_columns(spec, full, list(result.values()))
        return result

    def _with_subtype_columns(self, spec: EntitySpec, written: tuple[str, ...], found: list) -> None:
        """Complete stored rows read from the parent table alone, each ``(id, kind, row)`` with
        ``row`` the parent's written columns, into rows of every written column in order (the
        subtype table's ones read by id, per subtype)."""
        columns = spec.subtype.columns
        held = spec.subtype.held()
        parent = [c for c in written if c not in held]
        ids_of: dict[str, set] = {}
        for row_id, kind, _row in found:
            if columns.get(kind):
                ids_of.setdefault(kind, set()).add(row_id)
        sub_values: dict[int, dict] = {}
        for kind, ids in ids_of.items():
            names = columns[kind]
            model = spec.subtype.models[kind]
            for row in bulk.read_rows(self.conn, model.__table__, ("id", *names), {"id": ids}):
                sub_values[row[0]] = dict(zip(names, row[1:]))
        empty: dict = {}
        for row_id, _kind, row in found:
            values = dict(zip(parent, row))
            values.update(sub_values.get(row_id, empty))
            row[:] = [values.get(c) for c in written]

    # -- the upsert ---------------------------------------------------------------------------
    def _upsert(self, spec: EntitySpec, records: Iterable[dict]) -> None:
        counts = self.counts[spec.name]
        written = spec.written()
        fields = spec.fields
        # Identity conversions are skipped: only money and dates change form.
        convert_at = [(i, converter(spec.column(name))) for i, name in enumerate(fields)]
        convert_at = [(i, f) for i, f in convert_at if f is not _same]
        allowed = set(fields) | set(spec.not_loaded)
        subtype = spec.subtype
        kind_value = subtype.value if subtype else None
        kind_link = subtype.from_link if subtype else None
        if kind_value:
            allowed.add(kind_value)
        links = spec.links
        targets = [self.keyer(self.specs[link.target]) for link in links]
        nested = [bool(self.specs[link.target].key.via) for link in links]
        key_of, by_id = self.keyer(spec), spec.key.by_id
        agree = spec.agree
        agree_fields = tuple(check.field for check in agree)
        allowed.update(agree_fields)
        requires = spec.create_requires
        sheets: dict = {}
        # per link: its name, the cache of its keys by staged value, its keyer, whether nested
        link_plan = [(link.name, {}, targets[i], nested[i]) for i, link in enumerate(links)]
        staged: list[Staged] = []
        append = staged.append
        # A derived column is never staged (the load works it out below): it is not "left out".
        derived_columns = {d.column for d in spec.derived}
        every = set(fields) - derived_columns
        # One streaming pass: a staged record is kept as a few tuples, not as its JSON document.
        for record in records:
            values = record["values"] or {}
            if not values.keys() <= allowed:
                extra = sorted(set(values) - allowed)
                raise SpecError(f"staged {spec.name} values have no column: {', '.join(extra)}")
            row = list(map(values.get, fields))
            # A field left out (its column is not in the file) is not "empty": an update keeps it.
            absent = () if every <= values.keys() else tuple(
                i for i, name in enumerate(fields) if name not in values and name not in derived_columns)
            for i, convert in convert_at:
                row[i] = convert(row[i])
            record_links = record.get("links") or {}
            link_keys = []
            for link_name, cache, target_key, is_nested in link_plan:
                value = record_links.get(link_name)
                if not value:
                    link_keys.append(None)
                    continue
                raw = tuple(value.values())
                if is_nested:  # a key through a link holds that link's key (a dict)
                    raw = tuple([tuple(v.values()) if v.__class__ is dict else v for v in raw])
                key = cache.get(raw, False)
                if key is False:
                    key = cache[raw] = target_key(value)
                link_keys.append(key)
            lineage = record.get("lineage") or {}
            sheet = lineage.get("sheet")
            sheet = sheets.setdefault(sheet, sheet)
            kind = values.get(kind_value) if kind_value else (
                (record_links.get(kind_link[0]) or {}).get(kind_link[1]) if kind_link else None)
            names = record.get("key")
            append(Staged(key_of(names) if names else None, names.get(by_id) if by_id and names else None, row, kind,
                          (sheet, lineage.get("rows", "")), names, tuple(link_keys), absent,
                          list(map(values.get, agree_fields)) if agree else None,
                          next((f for f in requires if values.get(f) is None), None) if requires else None))
        # Links: resolved against this load's records, then the database, in one query per link.
        # The distinct keys of a link are its cache's values (every staged link went through it).
        for (_name, cache, _keyer, _nested), link in zip(link_plan, links):
            self.resolve(self.specs[link.target], set(cache.values()))
        if spec.key.via:  # a key through a link is known once the link is resolved (just above)
            for item in staged:
                if item.key is None:
                    item.key = key_of(item.names)
        kept = []
        resolve_plan = [(self.ids[link.target], link, link.missing != "ignore", bool(link.column)) for link in links]
        # A record's links resolve as every record with the same link keys does: worked out once per
        # distinct combination (a few hundred in a 100,000-line file), the findings still per record.
        outcomes: dict[tuple, tuple] = {}
        for item in staged:
            outcome = outcomes.get(item.links)
            if outcome is None:
                target_ids, unresolved, reject = [], [], False
                for key, (ids, link, reported, is_written) in zip(item.links, resolve_plan):
                    target_id = ids.get(key) if key is not None else None
                    if target_id is None and key is not None and reported:
                        unresolved.append((link, key))
                        if link.missing == "reject":
                            reject = True
                    if is_written:
                        target_ids.append(target_id)
                outcome = outcomes[item.links] = (target_ids, tuple(unresolved), reject)
            target_ids, unresolved, reject = outcome
            for link, key in unresolved:
                self._unresolved(spec, link, key, item.lineage)
            item.row.extend(target_ids)
            if reject:
                counts.rejected += 1
            else:
                kept.append(item)
        staged = kept
        if spec.derived:
            self._derive(spec, staged)
        if agree:
            self._agree(spec, staged)
        if spec.key.by_id or spec.key.signature:
            matched = self._match_by_id(spec, staged, written)
        elif spec.key.owned_by:
            # an owner staged with its own id (Key.by_id) is that stored row, whatever its key says
            owner_id = self.specs[spec.key.owned_by[0]].key.by_id
            hints = {s.key: s.names.get(owner_id) for s in staged
                     if s.key is not None and owner_id and s.names and s.names.get(owner_id) is not None}
            stored = self._stored_owned(spec, {s.key for s in staged if s.key is not None}, written, hints)
            matched = [stored.get(item.key) if item.key is not None else None for item in staged]
        else:
            matched = self._match_by_key(spec, staged, written)
        if spec.unique:
            staged, matched = self._check_unique(spec, staged, matched, written, counts)
        self._write(spec, staged, matched, written, counts)

    def _unresolved(self, spec: EntitySpec, link: Link, key: tuple, place: tuple) -> None:
        """A warning (or error) finding for a link that cannot be resolved: one message per
        missing record, one finding per record that refers to it."""
        cache = self._unresolved_messages.get((spec.name, link.name, key))
        tally = self._unresolved_refs.get(link.target)
        if tally is None:
            tally = self._unresolved_refs[link.target] = [0, set()]
        tally[0] += 1
        tally[1].add(key)
        sheet, rows = place
        first = str(rows).split(",", 1)[0].split("-", 1)[0]
        row = int(first) if first.isdigit() else None
        if cache is None:
            shown = ", ".join(str(v) for v in key)
            severity = "error" if link.missing == "reject" else "warning"
            what = {"warn": f"the {spec.called} is loaded without it",
                    "reject": f"the {spec.called} is not loaded"}[link.missing]
            why = f" ({link.explain})" if link.explain else ""
            cache = make_finding(
                link.code, f"{self.specs[link.target].called} {shown} is not in OPS{why}; {what}",
                severity=severity, sheet=sheet, row=row,
                column=self.columns.get(link.field or link.name), field=link.field or link.name, value=shown,
            codes=self.codes)
            self._unresolved_messages[(spec.name, link.name, key)] = cache
            self.findings.append(cache)
            return
        self.findings.append(Finding(cache.code, cache.message, cache.severity, cache.sheet, row, cache.column,
                                     cache.field, cache.value))

    # -- matching -----------------------------------------------------------------------------
    def _match_by_key(self, spec: EntitySpec, staged: list[Staged], written) -> list:
        """For each staged record: (id, stored discriminator, stored row) or None."""
        keys = {s.key for s in staged if s.key is not None}
        stored = self._stored_by_key(spec, keys, written) if keys else {}
        matched = []
        for item in staged:
            found = stored.get(item.key) if item.key is not None else None
            matched.append(found)
        return matched

    def _match_by_id(self, spec: EntitySpec, staged: list[Staged], written) -> list:
        table = spec.table
        discriminator = (spec.subtype.column,) if spec.subtype else ()
        explicit = {s.explicit_id for s in staged if s.explicit_id is not None}
        positions = [written.index(c) for c in spec.key.signature]
        # A link in the signature that the stored row lacks (a line loaded without its CAN, which
        # OPS did not have then) matches the staged row that now resolves it: that is the same
        # record, now linked (an update), never a second one.
        link_columns = {link.column for link in spec.links}
        unlinked = [i for i, c in enumerate(spec.key.signature) if c in link_columns]
        any_of: dict[str, Any] = {"id": explicit}
        if positions:
            first = positions[0]
            values = {s.row[first] for s in staged if s.explicit_id is None}
            if unlinked and unlinked[0] == 0:
                values.add(None)
            any_of[spec.key.signature[0]] = values
        held = spec.subtype.held() if spec.subtype else frozenset()
        if held:
            parent = tuple(c for c in written if c not in held)
            rows = bulk.read_rows(self.conn, table, ("id", *discriminator, *parent), any_of)
            entries = [(row[0], row[1] if discriminator else None, list(row[1 + len(discriminator):]))
                       for row in rows]
            self._with_subtype_columns(spec, written, entries)
            stored = [(row_id, *((kind,) if discriminator else ()), *values) for row_id, kind, values in entries]
            del rows, entries
        else:
            stored = bulk.read_rows(self.conn, table, ("id", *discriminator, *written), any_of)
        offset = 1 + len(discriminator)
        # one signature per stored and staged row: itemgetter, not a generator per row
        stored_signature = _tuple_getter([offset + p for p in positions])
        staged_signature = _tuple_getter(positions)
        by_id: dict[int, tuple] = {}
        # signature -> its stored row's entry, or a list of entries when several rows share it
        # (a list per row would cost a reload of 100,000 lines matched by signature 10 MB more)
        by_signature: dict[tuple, tuple | list] = {}
        for row in stored:
            kind = row[1] if discriminator else None
            entry = (row[0], kind, list(row[offset:]))
            if row[0] in explicit:
                by_id[row[0]] = entry
            elif positions:
                signature = stored_signature(row)
                earlier = by_signature.get(signature)
                if earlier is None:
                    by_signature[signature] = entry
                elif earlier.__class__ is list:
                    earlier.append(entry)
                else:
                    by_signature[signature] = [earlier, entry]
        del stored  # the entries hold what is compared: the rows as read can go before the writes
        for candidates in by_signature.values():
            if candidates.__class__ is list:
                candidates.reverse()  # pop() takes the lowest id first: each stored row matches once
        # Which of the signature's links the stored rows lack, as sets (worked out when a staged
        # row first finds no stored one): a staged row is looked up without a subset of its links
        # only where some stored row lacks exactly those (and the ones the staged row lacks too).
        # A first load, or one where every stored row is linked, looks nothing up this way.
        lacked = None
        if explicit:  # before any insert: from here on the sequence never hands out these ids
            bulk.advance_sequence(self.conn, table, max(explicit))
        matched = []
        for item in staged:
            if item.explicit_id is not None:
                matched.append(by_id.get(item.explicit_id))
                continue
            found = None
            if positions:
                signature = staged_signature(item.row)
                candidates = by_signature.get(signature)
                if not candidates and unlinked and by_signature:
                    if lacked is None:
                        lacked = {frozenset(i for i in unlinked if held[i] is None) for held in by_signature}
                        lacked.discard(frozenset())
                    # the stored row may lack any of the links the staged one now has
                    linked = [i for i in unlinked if signature[i] is not None] if lacked else ()
                    missing = frozenset(i for i in unlinked if signature[i] is None) if lacked else None
                    for lacking in _subsets(linked):
                        if missing.union(lacking) not in lacked:
                            continue
                        without = tuple(None if i in lacking else v for i, v in enumerate(signature))
                        candidates = by_signature.get(without)
                        if candidates:
                            signature = without
                            break
                if candidates:
                    if candidates.__class__ is list:
                        found = candidates.pop()
                    else:  # the one stored row with this signature: matched once
                        found = candidates
                        by_signature[signature] = ()
            matched.append(found)
        return matched

    # -- unique columns -----------------------------------------------------------------------
    def _check_unique(self, spec: EntitySpec, staged: list[Staged], matched: list, written, counts: Counts):
        """Refuse the records whose ``Unique`` columns another record holds (module doc); returns
        the staged records and their matches that may be written."""
        refused: set[int] = set()
        key_columns = spec.key.columns
        for unique in spec.unique:
            at = [written.index(c) for c in unique.columns]
            folded = [c in unique.folded for c in unique.columns]

            def value(values) -> tuple | None:
                out = tuple(v.lower() if f and isinstance(v, str) else v for v, f in zip(values, folded))
                return None if any(v is None for v in out) else out

            holders: dict[tuple, tuple] = {}  # value -> (stored id, its key values)
            for row in bulk.read_all(self.conn, spec.table, ("id", *unique.columns, *key_columns)):
                held = value(row[1:1 + len(at)])
                if held is not None:
                    holders.setdefault(held, (row[0], row[1 + len(at):]))
            given: dict[tuple, Staged] = {}  # value -> the first staged record giving it
            for index, (item, found) in enumerate(zip(staged, matched)):
                if index in refused:
                    continue
                wanted = value([item.row[i] for i in at])
                if wanted is None:
                    continue
                own = found[0] if found is not None else None
                holder = holders.get(wanted)
                first = given.get(wanted)
                if holder is not None and holder[0] != own:
                    stored_id, stored_key = holder
                    blank = [c for c, v in zip(key_columns, stored_key) if v is None]
                    whose = f", created in OPS (its {' and '.join(blank)} is empty): a load never overwrites it" \
                        if blank else f" ({' '.join(str(v) for v in stored_key)})"
                    why = f"OPS already has {spec.called} {stored_id} with the same {' and '.join(unique.columns)}{whose}"
                elif first is not None and first.key != item.key:
                    why = f"{spec.called} {' '.join(str(v) for v in (first.names or {}).values())} on row " \
                          f"{_first_row(first.lineage[1])} has the same {' and '.join(unique.columns)}"
                else:
                    given.setdefault(wanted, item)
                    continue
                refused.add(index)
                counts.rejected += 1
                if found is None and item.key is not None:
                    self.unresolvable[spec.name].add(item.key)
                named = " ".join(str(v) for v in (item.names or {}).values())
                shown = " ".join(str(item.row[i]) for i in at)
                self._finding(unique.code, f"{spec.called} {named} ({shown}) is not loaded: {why}", "error", item,
                              unique.field, shown)
        if not refused:
            return staged, matched
        keep = [i for i in range(len(staged)) if i not in refused]
        return [staged[i] for i in keep], [matched[i] for i in keep]

    # -- writing ------------------------------------------------------------------------------
    def _write(self, spec: EntitySpec, staged: list[Staged], matched: list, written, counts: Counts) -> None:
        table = spec.table
        subtype = spec.subtype
        policy = spec.update
        ids = self.ids[spec.name]
        inserts: list[Staged] = []
        updates: list[tuple] = []  # (id, new row, old row, kind)
        refs: list = []  # per kept record: its id, or the Staged whose id is reserved below
        kept: list[Staged] = []
        pending: dict[tuple, Staged] = {}
        replaces = {spec.fields.index(name) for name in spec.blank_replaces}
        for item, found in zip(staged, matched):
            if found.__class__ is _Collision:  # an owned row whose owner is refused: that is the finding
                if item.key is not None:
                    self.unresolvable[spec.name].add(item.key)
                counts.skipped += 1
                continue
            if found is None:
                if not spec.insert:
                    counts.skipped += 1
                    continue
                if item.explicit_id is not None and spec.key.unknown_id == "reject":
                    counts.rejected += 1
                    self._unknown_id(spec, item)
                    continue
                if subtype and (item.kind or subtype.default) in subtype.refuse:
                    counts.skipped += 1
                    if item.key is not None:
                        self.unresolvable[spec.name].add(item.key)
                    self._refused(spec, item, subtype.refuse[item.kind or subtype.default], created=False)
                    continue
                if item.lacks is not None:
                    counts.skipped += 1
                    if item.key is not None:
                        self.unresolvable[spec.name].add(item.key)
                    self._lacks(spec, item)
                    continue
                lacking = self._lacking(spec, item)
                if lacking is not None:
                    counts.skipped += 1
                    if item.key is not None:
                        self.unresolvable[spec.name].add(item.key)
                    self._not_created(spec, lacking, item)
                    continue
                first = pending.get(item.key) if item.key is not None else None
                if first is not None:  # the same key twice in one file: one row
                    refs.append(first)
                    kept.append(item)
                    continue
                inserts.append(item)
                refs.append(item)
                kept.append(item)
                if item.key is not None:
                    pending[item.key] = item
                continue
            row_id, kind, current = found
            if subtype and subtype.fixed and item.kind is not None and kind is not None and item.kind != kind:
                counts.rejected += 1
                self._refused(spec, item, f"OPS holds it as a {kind} record; it cannot become {item.kind}",
                              code=subtype.conflict_code)
                if item.key is not None:  # what links to the refused record must not find the other one
                    self.unresolvable[spec.name].add(item.key)
                continue
            if item.key is not None:
                ids[item.key] = row_id
            if spec.ask:
                self._ask(spec, item, current)
            kept.append(item)
            refs.append(row_id)
            if policy == "never":
                counts.unchanged += 1
                continue
            if policy == "given":
                wanted = [n if n is not None or i in replaces else c for i, (n, c) in enumerate(zip(item.row, current))]
            else:
                wanted = item.row
            if item.absent:
                wanted = list(wanted)
                for i in item.absent:
                    wanted[i] = current[i]
            if wanted != current:
                updates.append((row_id, wanted, current, kind))
            else:
                counts.unchanged += 1

        # New ids: explicit ones stay, the rest come from the parent's sequence.
        explicit = [s.explicit_id for s in inserts if s.explicit_id is not None]
        need = [s for s in inserts if s.explicit_id is None]
        new_ids = bulk.reserve_ids(self.conn, table, len(need), floor=max(explicit, default=0))
        assigned: dict[int, int] = {}
        for item, new_id in zip(need, new_ids):
            assigned[id(item)] = new_id
        for item in inserts:
            new_id = item.explicit_id if item.explicit_id is not None else assigned[id(item)]
            assigned[id(item)] = new_id
            if item.key is not None:
                ids[item.key] = new_id
            if subtype is not None:
                item.kind = item.kind or subtype.default
        self._insert(spec, inserts, assigned, written, counts)
        if spec.key.through and inserts:
            self._associate(spec, inserts, assigned)
        self._update(spec, updates, written, counts)

        if self.trace is not None:
            for item, ref in zip(kept, refs):
                self.trace(spec.name, ref if ref.__class__ is int else assigned[id(ref)], item.lineage)

    def _insert(self, spec: EntitySpec, inserts: list[Staged], assigned: dict, written, counts: Counts) -> None:
        if not inserts:
            return
        table = spec.table
        subtype = spec.subtype
        user, now = self.user_id, self.now
        discriminator = (subtype.column,) if subtype and subtype.column not in written else ()
        defaults = tuple(spec.defaults)
        default_values = tuple(spec.defaults.values())
        audit = tuple(c for c in AUDIT if c in table.c)
        audit_values = tuple({"created_by": user, "updated_by": user, "created_on": now, "updated_on": now}[c]
                             for c in audit)
        held = subtype.held() if subtype else frozenset()
        parent_at = [i for i, c in enumerate(written) if c not in held] if held else None
        parent_written = tuple(written[i] for i in parent_at) if held else written
        columns = ("id", *discriminator, *parent_written, *defaults, *audit)
        rows = []
        by_kind: dict[str, list] = {}
        fill = [(i, spec.when_empty[name]) for i, name in enumerate(written) if name in spec.when_empty]
        for item in inserts:
            new_id = assigned[id(item)]
            row = item.row
            if fill:
                row = list(row)
                for i, value in fill:
                    if row[i] is None:
                        row[i] = value
            values = [row[i] for i in parent_at] if held else row
            rows.append((new_id, *((item.kind,) if discriminator else ()), *values, *default_values,
                         *audit_values))
            if subtype is not None:
                by_kind.setdefault(item.kind, []).append(item)
        counts.inserted += bulk.insert_rows(self.conn, table, columns, rows)
        if subtype is None:
            self.recorder.created_many(spec.name, spec.class_name, table, columns, rows)
            return
        rows_of: dict[str, list] = {}
        for item, row in zip(inserts, rows):
            rows_of.setdefault(item.kind, []).append(row)
        for kind, items in by_kind.items():
            model = subtype.models[kind]
            extra = subtype.defaults.get(kind, {})
            own = subtype.columns.get(kind, ())
            own_at = [written.index(c) for c in own]
            names = ("id", *extra, *own)
            extra_values = tuple(extra.values())
            if own_at:
                own_of = _tuple_getter(own_at)
                sub_rows = [(assigned[id(item)], *extra_values, *own_of(item.row)) for item in items]
            else:  # the usual case: the subtype row is its id and defaults (no generator per row)
                sub_rows = [(assigned[id(item)], *extra_values) for item in items]
            bulk.insert_rows(self.conn, model.__table__, names, sub_rows)
            self.recorder.created_many(spec.name, model.__name__, table, columns, rows_of[kind],
                                       model.__table__, names, sub_rows)

    def _update(self, spec: EntitySpec, updates: list[tuple], written, counts: Counts) -> None:
        if not updates:
            return
        table = spec.table
        subtype = spec.subtype
        audit = tuple(c for c in ("updated_by", "updated_on") if c in table.c)
        audit_values = tuple({"updated_by": self.user_id, "updated_on": self.now}[c] for c in audit)
        held = subtype.held() if subtype else frozenset()
        if held:
            parent_at = [i for i, c in enumerate(written) if c not in held]
            rows = [(row_id, *(wanted[i] for i in parent_at), *audit_values) for row_id, wanted, _, _ in updates]
            counts.updated += bulk.update_rows(self.conn, table, (*(written[i] for i in parent_at), *audit), rows)
            by_kind: dict[str, list] = {}
            for row_id, wanted, current, kind in updates:
                own_at = [written.index(c) for c in subtype.columns.get(kind, ())]
                if any(wanted[i] != current[i] for i in own_at):
                    by_kind.setdefault(kind, []).append((row_id, *(wanted[i] for i in own_at)))
            for kind, sub_rows in by_kind.items():
                bulk.update_rows(self.conn, subtype.models[kind].__table__, subtype.columns[kind], sub_rows)
        else:
            rows = [(row_id, *wanted, *audit_values) for row_id, wanted, _, _ in updates]
            counts.updated += bulk.update_rows(self.conn, table, (*written, *audit), rows)
        record = self.recorder.updated
        for row_id, wanted, current, kind in updates:
            model = subtype.models.get(kind) if subtype and kind is not None else None
            record(spec.name, model.__name__ if model else spec.class_name, table, row_id,
                   dict(zip(written, current)), dict(zip(written, wanted)),
                   model.__table__ if model else None)

    def _lacking(self, spec: EntitySpec, item: Staged) -> Link | None:
        """The first link a new record needs and does not have."""
        position = len(spec.fields)
        for link in spec.links:
            if not link.column:
                continue
            if link.create_requires and item.row[position] is None:
                return link
            position += 1
        return None

    # -- derived columns, checks and questions -------------------------------------------------
    def _link_position(self, spec: EntitySpec, name: str) -> int:
        """The position in the written row of a written link's id."""
        return spec.written().index(next(link.column for link in spec.links if link.name == name))

    def _linked(self, spec: EntitySpec, link_name: str, columns: tuple, ids: set) -> dict:
        """id -> {column: value} of the records a link of ``spec`` points to."""
        target = self.specs[next(link.target for link in spec.links if link.name == link_name)]
        ids = {i for i in ids if i is not None}
        if not ids:
            return {}
        rows = bulk.read_rows(self.conn, target.table, ("id", *columns), {"id": ids})
        return {row[0]: dict(zip(columns, row[1:])) for row in rows}

    def _derive(self, spec: EntitySpec, staged: list[Staged]) -> None:
        fields = spec.fields
        for derived in spec.derived:
            at = self._link_position(spec, derived.link)
            out = fields.index(derived.column)
            uses = [(name, fields.index(name)) for name in derived.uses]
            linked = self._linked(spec, derived.link, derived.reads, {item.row[at] for item in staged})
            compute = derived.compute
            # computed once per distinct (linked record, subtype, fields used): a few per load
            memo: dict = {}
            positions = [i for _, i in uses]
            used = _tuple_getter(positions)
            for item in staged:
                row = item.row
                key = (row[at], item.kind, used(row)) if positions else (row[at], item.kind)
                value = memo.get(key, memo)
                if value is memo:
                    value = memo[key] = compute(linked.get(row[at]), {name: row[i] for name, i in uses}, item.kind)
                row[out] = value

    def _names(self, spec: EntitySpec, ids: set) -> dict:
        """id -> the record's natural key as text, for messages."""
        ids = {i for i in ids if i is not None}
        if not ids or not spec.key.columns:
            return {}
        rows = bulk.read_rows(self.conn, spec.table, ("id", *spec.key.columns), {"id": ids})
        return {row[0]: " ".join(str(v) for v in row[1:] if v is not None) for row in rows}

    def _agree(self, spec: EntitySpec, staged: list[Staged]) -> None:
        for index, check in enumerate(spec.agree):
            target = self.specs[check.target]
            at = self._link_position(spec, check.link)
            link = next(link for link in spec.links if link.name == check.link)
            linked = self._linked(spec, check.link, (check.column,), {item.row[at] for item in staged})
            wanted = {item.checked[index] for item in staged if item.checked[index] is not None}
            self.resolve(target, {target.key.of({check.key: value}) for value in wanted})
            stored = {values[check.column] for values in linked.values()}
            names = self._names(target, stored)
            link_names = self._names(self.specs[link.target], set(linked))
            ids = self.ids[target.name]
            given_of = {value: ids.get(target.key.of({check.key: value})) for value in wanted}
            # Judged once per distinct (value, linked record): most lines repeat a few pairs.
            verdicts: dict[tuple, str | None] = {}
            for item in staged:
                value = item.checked[index]
                linked_id = item.row[at]
                if value is None or linked_id is None:
                    continue
                pair = (value, linked_id)
                message = verdicts.get(pair, verdicts)
                if message is verdicts:
                    given = given_of[value]
                    held = linked[linked_id][check.column] if linked_id in linked else None
                    which = f"{self.specs[link.target].called} {link_names.get(linked_id, linked_id)}"
                    if given is not None and given == held:
                        message = None
                    elif given is None:
                        message = f"{target.called} {value} is not in OPS ({which} is in {names.get(held, 'none')})"
                    else:
                        message = f"{target.called} {value} disagrees with {which}, which OPS has in " \
                                  f"{target.called} {names.get(held, 'none')}"
                    verdicts[pair] = message
                if message is not None:
                    self._finding(check.code, message, "warning", item, check.field, value)

    def _ask(self, spec: EntitySpec, item: Staged, current: list) -> None:
        written = spec.written()
        for ask in spec.ask:
            link = next(link for link in spec.links if link.name == ask.link)
            at = written.index(link.column)
            given, held = item.row[at], current[at]
            if given is None or given == held:
                continue
            target = self.specs[link.target]
            names = self._names(target, {given, held})
            shown = [str(v) for v in (item.names or {}).values() if v is not None]
            named = repr(shown[0]) + "".join(f" ({v})" for v in shown[1:]) if shown else ""
            sheet, rows = item.lineage
            self.questions.append({
                "code": ask.code,
                "question": f"{spec.called} {named} has {ask.what} {names.get(held, 'none')} in OPS, but its "
                            f"lines on rows {rows} name {names.get(given, given)}: which is right? "
                            f"OPS is left as it is",
                "row": _first_row(rows),
            })

    def _unknown_id(self, spec: EntitySpec, item: Staged) -> None:
        self._finding(spec.key.unknown_id_code,
                      f"{spec.called} {item.explicit_id} is not in OPS: a number updates a line OPS has; "
                      "write 'new' to create one", "error", item, spec.key.id_field, item.explicit_id)

    def _finding(self, code: str, message: str, severity: str, item: Staged, field_name: str | None,
                 value) -> None:
        sheet, rows = item.lineage
        self.findings.append(make_finding(
            code, message, severity=severity, sheet=sheet, row=_first_row(rows),
            column=self.columns.get(field_name) if field_name else None, field=field_name,
            value=str(value) if value is not None else None,
        codes=self.codes))

    def _not_created(self, spec: EntitySpec, link: Link, item: Staged) -> None:
        sheet, rows = item.lineage
        first = str(rows).split(",")[0].split("-")[0]
        named = " ".join(str(v) for v in (item.names or {}).values())
        why = f": {link.explain}" if link.explain else f": it needs a {self.specs[link.target].called}"
        self.findings.append(make_finding(
            link.code, f"{spec.called} {named} is not in OPS and is not created{why}",
            severity="warning", sheet=sheet, row=int(first) if first.isdigit() else None,
            column=self.columns.get(link.field or link.name), field=link.field or link.name, value=named,
        codes=self.codes))

    def _lacks(self, spec: EntitySpec, item: Staged) -> None:
        """A new record without a value OPS's loaders need to create it (EntitySpec.create_requires)."""
        sheet, rows = item.lineage
        named = " ".join(str(v) for v in (item.names or {}).values() if v is not None)
        why = f": {spec.create_explain}" if spec.create_explain else f": it has no {item.lacks.replace('_', ' ')}"
        self.findings.append(make_finding(
            spec.create_code, f"{spec.called} {named} is not in OPS and is not created{why}",
            severity="warning", sheet=sheet, row=_first_row(rows), column=self.columns.get(item.lacks),
            field=item.lacks, value=named or None, codes=self.codes))

    def _refused(self, spec: EntitySpec, item: Staged, why: str, created: bool = True,
                 code: str = "cannot-load") -> None:
        """A record OPS cannot take: an error (a stored record asked to change its subtype), or a
        warning for a new one the pipeline cannot create (``created=False``)."""
        sheet, rows = item.lineage
        first = str(rows).split(",")[0].split("-")[0]
        named = " ".join(str(v) for v in (item.names or {}).values())
        if created:
            message, severity = f"{spec.called} {named} is not loaded: {why}", "error"
        else:
            code, message, severity = "not-created", f"{spec.called} {named} is not in OPS and is not created: {why}", \
                "warning"
        self.findings.append(make_finding(code, message, severity=severity, sheet=sheet,
                                          row=int(first) if first.isdigit() else None, value=named or None, codes=self.codes))


class _Collision:
    """An owned record whose owner another stored owner's unique key refuses (``other``: its id)."""

    __slots__ = ("other",)

    def __init__(self, other: int):
        self.other = other


def _first_row(rows) -> int | None:
    first = str(rows).split(",", 1)[0].split("-", 1)[0]
    return int(first) if first.isdigit() else None


def _tuple_getter(positions: list[int]) -> Callable[[Sequence], tuple]:
    """The values at ``positions`` of a sequence, always as a tuple (itemgetter of one position
    gives the bare value)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*positions) if positions else (lambda row: ())

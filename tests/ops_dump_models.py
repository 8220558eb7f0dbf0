"""A stand-in for ``ops_pipeline.db.ops_models`` built from OPS's own schema dump, for the history
tests: every table of ``ops_schema.sql`` (version tables and ``transaction`` included) as a Core
``Table`` in one ``MetaData(schema="ops")``, with the dump's column names, types, nullability and
primary keys. Used only when the package's declaration is not there yet; the history module needs
nothing but tables, ``version_table(name)`` and ``transaction_table`` from it.
"""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Date, DateTime, Integer, MetaData, Numeric,
                        SmallInteger, String, Table, Text, Uuid)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

HERE = Path(__file__).parent
CANDIDATES = [HERE / "ops_schema" / "ops_schema.sql", Path("/work/shared/ops-schema/ops_schema.sql")]

_CREATE = re.compile(r"^CREATE TABLE ops\.(\w+) \(\n(.*?)\n\);", re.S | re.M)
_PKEY = re.compile(r"^ALTER TABLE ONLY ops\.(\w+)\n    ADD CONSTRAINT \w+ PRIMARY KEY \(([^)]*)\);", re.M)


def _type(text: str):
    text = text.strip()
    if text.endswith("[]"):
        return ARRAY(_type(text[:-2]))
    if text.startswith("numeric"):
        m = re.match(r"numeric\((\d+),(\d+)\)", text)
        return Numeric(int(m.group(1)), int(m.group(2))) if m else Numeric()
    if text.startswith("character varying"):
        m = re.match(r"character varying\((\d+)\)", text)
        return String(int(m.group(1))) if m else String()
    simple = {"integer": Integer, "bigint": BigInteger, "smallint": SmallInteger, "boolean": Boolean,
              "date": Date, "text": Text, "uuid": Uuid,
              "timestamp without time zone": DateTime}
    if text in simple:
        return simple[text]()
    if text == "jsonb":
        return JSON().with_variant(JSONB(), "postgresql")
    if text.startswith("ops."):  # an enum: its member names, stored as text where there is no type
        return String()
    raise ValueError(f"unknown type {text!r}")


def _build() -> MetaData:
    path = next((p for p in CANDIDATES if p.exists()), None)
    if path is None:
        raise FileNotFoundError("ops_schema.sql not found")
    sql = path.read_text()
    keys = {name: [c.strip().strip('"') for c in cols.split(",")] for name, cols in _PKEY.findall(sql)}
    metadata = MetaData(schema="ops")
    for name, body in _CREATE.findall(sql):
        columns = []
        for line in body.split("\n"):
            line = line.strip().rstrip(",")
            if not line or line.startswith("CONSTRAINT"):
                continue
            m = re.match(r'("?[\w]+"?) (.*?)( DEFAULT .*?)?( NOT NULL)?$', line)
            col, typ, _default, notnull = m.groups()
            col = col.strip('"')
            columns.append(Column(col, _type(typ), primary_key=col in keys.get(name, ()),
                                  nullable=not notnull, autoincrement=False))
        Table(name, metadata, *columns)
    return metadata


OpsBase = type("OpsBase", (), {"metadata": _build()})


def version_table(table_or_name) -> Table:
    name = table_or_name if isinstance(table_or_name, str) else table_or_name.name
    return OpsBase.metadata.tables[f"ops.{name}_version"]


transaction_table = OpsBase.metadata.tables["ops.transaction"]

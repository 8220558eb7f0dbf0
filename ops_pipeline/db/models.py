"""SQLAlchemy ORM models: the OPS subset the pipeline writes, and the pipeline's own tables.

These models are the single definition of the schema; the bulk load paths derive their tables
and columns from them.

The pipeline's own tables (:class:`Base`) live in schema ``ops_pipeline`` on PostgreSQL and are
created and changed only by the Alembic migrations in ``ops_pipeline/db/migrations``; SQLite has
no schemas, and :func:`ops_pipeline.db.engine.make_engine` maps ``ops_pipeline`` to none there.
The OPS look-alike tables (:class:`LookalikeBase`) are what the loader writes today; they go when
the loader writes OPS's own tables.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: The PostgreSQL schema of the pipeline's own tables (runs, lineage, the source-file ledger).
PIPELINE_SCHEMA = "ops_pipeline"

BUDGET_LINE_STATUSES = ("DRAFT", "PLANNED", "IN_EXECUTION", "OBLIGATED")
AGREEMENT_TYPES = ("CONTRACT", "GRANT", "DIRECT_OBLIGATION", "IAA", "AA")
PROJECT_TYPES = ("RESEARCH", "ADMINISTRATIVE_AND_SUPPORT")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"ck_{column}_known")


class Base(DeclarativeBase):
    """The pipeline's own tables, in schema ``ops_pipeline``; Alembic creates and changes them."""

    metadata = MetaData(schema=PIPELINE_SCHEMA)


class LookalikeBase(DeclarativeBase):
    """The OPS look-alike tables of the loader today (default schema). Created only on SQLite."""


class Division(LookalikeBase):
    __tablename__ = "division"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    abbreviation: Mapped[str] = mapped_column(String(20), unique=True)
    portfolios: Mapped[list["Portfolio"]] = relationship(back_populates="division")


class Portfolio(LookalikeBase):
    __tablename__ = "portfolio"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    abbreviation: Mapped[str] = mapped_column(String(20), unique=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id"))
    division: Mapped[Division] = relationship(back_populates="portfolios")


class Project(LookalikeBase):
    __tablename__ = "project"
    __table_args__ = (_one_of("project_type", PROJECT_TYPES),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_type: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(500))
    short_title: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    maps_id: Mapped[int | None] = mapped_column(Integer, unique=True)


Index("ix_project_title_lower", func.lower(Project.title))


class CAN(LookalikeBase):
    __tablename__ = "can"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(7), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    nick_name: Mapped[str | None] = mapped_column(String(100))
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolio.id"))


class ProcurementShop(LookalikeBase):
    __tablename__ = "procurement_shop"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    abbr: Mapped[str] = mapped_column(String(20), unique=True)
    fee_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    fee_start_date: Mapped[dt.date | None] = mapped_column(Date)
    fee_end_date: Mapped[dt.date | None] = mapped_column(Date)


class Agreement(LookalikeBase):
    __tablename__ = "agreement"
    __table_args__ = (_one_of("agreement_type", AGREEMENT_TYPES),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_type: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(500))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"))
    maps_sys_id: Mapped[int | None] = mapped_column(Integer, unique=True)


Index("ix_agreement_name_lower_type", func.lower(Agreement.name), Agreement.agreement_type)


class BudgetLineItem(LookalikeBase):
    __tablename__ = "budget_line_item"
    __table_args__ = (_one_of("status", BUDGET_LINE_STATUSES),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_description: Mapped[str | None] = mapped_column(String(1000))
    comments: Mapped[str | None] = mapped_column(String(4000))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    proc_shop_fee_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    date_needed: Mapped[dt.date | None] = mapped_column(Date)
    fiscal_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    can_id: Mapped[int | None] = mapped_column(ForeignKey("can.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id"), index=True)


# -- the pipeline's own tables -------------------------------------------------------------------


class PipelineRun(Base):
    """One loaded run. Written in the same transaction as the data it loaded."""

    __tablename__ = "ops_pipeline_run"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(1000))
    file_sha256: Mapped[str] = mapped_column(String(64))
    staged_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    counts: Mapped[dict] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: The OPS (SQLAlchemy-Continuum) ``transaction`` row this load wrote its history under.
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)


# Named as before the tables had a schema: the default name would now include the schema.
Index("ix_ops_pipeline_run_file_sha256", PipelineRun.file_sha256)


class Lineage(Base):
    """Links a loaded record to the run, file, sheet and rows it came from."""

    __tablename__ = "ops_pipeline_lineage"
    __table_args__ = (
        UniqueConstraint("run_id", "entity", "entity_id", name="uq_lineage_run_entity"),
        Index("ix_lineage_entity", "entity", "entity_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("ops_pipeline_run.id"))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    file_sha256: Mapped[str] = mapped_column(String(64))
    sheet: Mapped[str | None] = mapped_column(String(100))
    rows: Mapped[str] = mapped_column(Text)


class SourceFile(Base):
    """The ledger of source files: each file (by content) is processed once.

    ``sha256`` identifies the content wherever it was uploaded; ``location`` + ``version_id`` /
    ``etag`` identify an object version in storage. ``outcome`` is the result of its run.
    """

    __tablename__ = "ops_pipeline_source_file"
    __table_args__ = (UniqueConstraint("location", "version_key", name="uq_source_file_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location: Mapped[str] = mapped_column(String(1100))  # s3://bucket/key or a local path
    version_key: Mapped[str] = mapped_column(String(200))  # version id, else ETag, else sha256
    version_id: Mapped[str | None] = mapped_column(String(200))
    etag: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))  # processing, succeeded, invalid, failed, duplicate
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


Index("ix_ops_pipeline_source_file_sha256", SourceFile.sha256)


ENTITY_MODELS = {
    "project": Project,
    "can": CAN,
    "agreement": Agreement,
    "budget_line_item": BudgetLineItem,
    "portfolio": Portfolio,
    "division": Division,
}

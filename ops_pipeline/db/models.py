"""SQLAlchemy ORM models of the pipeline's own tables: runs, lineage, the source-file ledger.

OPS's tables, which the loads write, are declared in :mod:`ops_pipeline.db.ops_models`.

The pipeline's own tables (:class:`Base`) live in schema ``ops_pipeline`` on PostgreSQL and are
created and changed only by the Alembic migrations in ``ops_pipeline/db/migrations``; SQLite has
no schemas, and :func:`ops_pipeline.db.engine.make_engine` maps ``ops_pipeline`` to none there.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: The PostgreSQL schema of the pipeline's own tables (runs, lineage, the source-file ledger).
PIPELINE_SCHEMA = "ops_pipeline"

class Base(DeclarativeBase):
    """The pipeline's own tables, in schema ``ops_pipeline``; Alembic creates and changes them."""

    metadata = MetaData(schema=PIPELINE_SCHEMA)


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

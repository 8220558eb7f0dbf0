"""Baseline: the schema ``db init`` created at commit a0276dc, before there were migrations.

Revision ID: 0001
Revises: none

Every table in the default schema, as that ``init_schema`` made them. On PostgreSQL only the
pipeline's own tables: the pipeline never creates OPS's tables there, so the OPS look-alike
tables (division, portfolio, project, can, agreement, budget_line_item, procurement_shop) are
created on SQLite only, where the loader of today still writes them. A database made by that
``db init`` is stamped with this revision instead of running it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _create_lookalike_tables()
    op.create_table(
        "ops_pipeline_schema",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ops_pipeline_run",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("dataset", sa.String(50), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("staged_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ops_pipeline_run_file_sha256", "ops_pipeline_run", ["file_sha256"])
    op.create_table(
        "ops_pipeline_source_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(1100), nullable=False),
        sa.Column("version_key", sa.String(200), nullable=False),
        sa.Column("version_id", sa.String(200), nullable=True),
        sa.Column("etag", sa.String(200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("location", "version_key", name="uq_source_file_version"),
    )
    op.create_index("ix_ops_pipeline_source_file_sha256", "ops_pipeline_source_file", ["sha256"])
    op.create_table(
        "ops_pipeline_lineage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("sheet", sa.String(100), nullable=True),
        sa.Column("rows", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "entity", "entity_id", name="uq_lineage_run_entity"),
        sa.ForeignKeyConstraint(["run_id"], ["ops_pipeline_run.id"]),
    )
    op.create_index("ix_lineage_entity", "ops_pipeline_lineage", ["entity", "entity_id"])


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{column}_known")


def _create_lookalike_tables() -> None:
    op.create_table(
        "division",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("abbreviation", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("abbreviation"),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_type", sa.String(30), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("short_title", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("maps_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        _one_of("project_type", ("RESEARCH", "ADMINISTRATIVE_AND_SUPPORT")),
        sa.UniqueConstraint("maps_id"),
    )
    op.create_index("ix_project_title_lower", "project", [sa.text("lower(title)")])
    op.create_table(
        "procurement_shop",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("abbr", sa.String(20), nullable=False),
        sa.Column("fee_percent", sa.Numeric(5, 2), nullable=True),
        sa.Column("fee_start_date", sa.Date(), nullable=True),
        sa.Column("fee_end_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("abbr"),
    )
    op.create_table(
        "portfolio",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("abbreviation", sa.String(20), nullable=False),
        sa.Column("division_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("abbreviation"),
        sa.ForeignKeyConstraint(["division_id"], ["division.id"]),
    )
    op.create_table(
        "agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_type", sa.String(30), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("maps_sys_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        _one_of("agreement_type", ("CONTRACT", "GRANT", "DIRECT_OBLIGATION", "IAA", "AA")),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.UniqueConstraint("maps_sys_id"),
    )
    op.create_index("ix_agreement_name_lower_type", "agreement", [sa.text("lower(name)"), "agreement_type"])
    op.create_table(
        "can",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(7), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("nick_name", sa.String(100), nullable=True),
        sa.Column("portfolio_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.ForeignKeyConstraint(["portfolio_id"], ["portfolio.id"]),
    )
    op.create_table(
        "budget_line_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_description", sa.String(1000), nullable=True),
        sa.Column("comments", sa.String(4000), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("proc_shop_fee_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("date_needed", sa.Date(), nullable=True),
        sa.Column("fiscal_year", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("can_id", sa.Integer(), nullable=True),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        _one_of("status", ("DRAFT", "PLANNED", "IN_EXECUTION", "OBLIGATED")),
        sa.ForeignKeyConstraint(["can_id"], ["can.id"]),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"]),
    )
    op.create_index("ix_budget_line_item_agreement_id", "budget_line_item", ["agreement_id"])
    op.create_index("ix_budget_line_item_can_id", "budget_line_item", ["can_id"])


def downgrade() -> None:
    for name in ("ops_pipeline_lineage", "ops_pipeline_source_file", "ops_pipeline_run", "ops_pipeline_schema"):
        op.drop_table(name)
    if op.get_bind().dialect.name == "sqlite":
        for name in ("budget_line_item", "can", "agreement", "portfolio", "procurement_shop", "project",
                     "division"):
            op.drop_table(name)

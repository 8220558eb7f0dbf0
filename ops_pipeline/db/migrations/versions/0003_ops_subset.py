"""SQLite: the look-alike OPS tables give way to the OPS-shaped subset, their rows moved across.

Revision ID: 0003
Revises: 0002

Before issue 9 the pipeline wrote into tables of its own that looked like OPS's (``project``,
``can``, ``agreement``, ``budget_line_item``, ``division``, ``portfolio``, ``procurement_shop``).
Loads now write OPS's own tables: on PostgreSQL those are OPS's (schema ``ops``, which the
pipeline never creates), and on SQLite, the embedded default, the subset that
``ops_models.create_subset`` declares, with the same table names. So on SQLite this revision:

1. renames each look-alike table that holds rows to ``ops_pipeline_legacy_<name>`` (kept whole:
   nothing is lost, whatever OPS's rules make of it), and drops the empty ones;
2. creates the OPS subset with its reference rows (divisions, portfolios);
3. copies across, with their ids (so the lineage still points at them), what OPS's rules take:
   projects (as their subtype), CANs whose portfolio OPS has, agreements of the types OPS lets
   the pipeline create (an AA agreement needs agencies the old tables never held) and budget lines
   (typed after their agreement; a link to a row that did not come across is left empty).
   ``fiscal_year`` and ``proc_shop_fee_amount`` have no OPS column (OPS derives the one and keeps
   fees on the procurement shop): they stay in the legacy table.

PostgreSQL is left alone: the look-alike tables there (default schema) are not ours to guess
about, and OPS's own tables are OPS's.
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LOOKALIKES = ("budget_line_item", "agreement", "can", "project", "procurement_shop", "portfolio", "division")
LEGACY = "ops_pipeline_legacy_"
LEGACY_INDEXES = ("ix_project_title_lower", "ix_agreement_name_lower_type", "ix_budget_line_item_agreement_id",
                  "ix_budget_line_item_can_id")


def _is_lookalike(conn) -> bool:
    names = set(sa.inspect(conn).get_table_names())
    if "project" not in names:
        return False
    return "maps_id" in {c["name"] for c in sa.inspect(conn).get_columns("project")}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    from ops_pipeline.db import ops_models

    moved: list[str] = []
    if _is_lookalike(conn):
        for index in LEGACY_INDEXES:
            op.execute(f'DROP INDEX IF EXISTS "{index}"')
        for name in LOOKALIKES:
            if name not in sa.inspect(conn).get_table_names():
                continue
            if conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar():
                op.execute(f'ALTER TABLE "{name}" RENAME TO "{LEGACY}{name}"')
                moved.append(name)
        # Empty ones go (children first: budget lines refer to CANs and agreements...).
        for name in LOOKALIKES:
            if name not in moved and name in sa.inspect(conn).get_table_names():
                op.execute(f'DROP TABLE "{name}"')
    ops_models.create_subset(conn)
    if moved:
        _copy(conn, set(moved))


def _copy(conn, moved: set) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    run = conn.exec_driver_sql
    if "project" in moved:
        run(f"INSERT INTO project (id, project_type, title, short_title, description, created_on, updated_on) "
            f"SELECT id, project_type, title, short_title, COALESCE(description, ''), ?, ? FROM {LEGACY}project",
            (now, now))
        run(f"INSERT INTO research_project (id) SELECT id FROM {LEGACY}project WHERE project_type = 'RESEARCH'")
        run(f"INSERT INTO administrative_and_support_project (id) SELECT id FROM {LEGACY}project "
            "WHERE project_type = 'ADMINISTRATIVE_AND_SUPPORT'")
    if "can" in moved:
        portfolio = (f"(SELECT p.id FROM portfolio p JOIN {LEGACY}portfolio o ON upper(o.abbreviation) = "
                     f"upper(p.abbreviation) WHERE o.id = c.portfolio_id)") if "portfolio" in moved else "NULL"
        run(f"INSERT INTO can (id, number, description, nick_name, portfolio_id, created_on, updated_on) "
            f"SELECT c.id, c.number, c.description, c.nick_name, {portfolio}, ?, ? FROM {LEGACY}can c "
            f"WHERE {portfolio} IS NOT NULL", (now, now))
    if "agreement" in moved:
        project = "a.project_id" if "project" in moved else "NULL"
        run(f"INSERT INTO agreement (id, agreement_type, name, project_id, maps_sys_id, notes, created_on, updated_on) "
            f"SELECT a.id, a.agreement_type, a.name, {project}, a.maps_sys_id, '', ?, ? FROM {LEGACY}agreement a "
            "WHERE a.agreement_type <> 'AA'", (now, now))
        run("INSERT INTO contract_agreement (id, delivered_status) SELECT id, 0 FROM agreement "
            "WHERE agreement_type = 'CONTRACT'")
        run("INSERT INTO grant_agreement (id) SELECT id FROM agreement WHERE agreement_type = 'GRANT'")
        run("INSERT INTO iaa_agreement (id, direction) SELECT id, 'OUTGOING' FROM agreement WHERE agreement_type = 'IAA'")
        run("INSERT INTO direct_agreement (id) SELECT id FROM agreement WHERE agreement_type = 'DIRECT_OBLIGATION'")
    if "budget_line_item" in moved:
        run(f"INSERT INTO budget_line_item (id, line_description, comments, amount, date_needed, status, can_id, "
            "agreement_id, budget_line_item_type, on_hold, certified, closed, is_under_current_resolution, "
            "doc_received, is_obe, created_on, updated_on) "
            "SELECT b.id, b.line_description, b.comments, b.amount, b.date_needed, b.status, "
            "(SELECT id FROM can WHERE can.id = b.can_id), (SELECT id FROM agreement WHERE agreement.id = b.agreement_id), "
            "COALESCE((SELECT agreement_type FROM agreement WHERE agreement.id = b.agreement_id), 'CONTRACT'), "
            f"0, 0, 0, 0, 0, 0, ?, ? FROM {LEGACY}budget_line_item b", (now, now))
        for kind, table in (("CONTRACT", "contract_budget_line_item"), ("GRANT", "grant_budget_line_item"),
                            ("IAA", "iaa_budget_line_item"), ("DIRECT_OBLIGATION", "direct_obligation_budget_line_item"),
                            ("AA", "aa_budget_line_item")):
            run(f"INSERT INTO {table} (id) SELECT id FROM budget_line_item WHERE budget_line_item_type = ?", (kind,))


def downgrade() -> None:
    raise NotImplementedError("the OPS subset is not turned back into the look-alike tables")

"""What the MAPS scenarios' steps share (features/steps/maps_*_steps.py): the scenario's own SQLite
OPS database, a query on it, and a run's findings."""
from __future__ import annotations

from ops_pipeline.db.engine import init_schema, make_engine
from ops_pipeline.rundir import read_jsonl


def scenario_db(context) -> str:
    """The scenario's database URL: an SQLite OPS subset in its temporary folder, made on first use."""
    if not getattr(context, "db_url", None):
        context.db_url = f"sqlite:///{context.tmp / 'ops.db'}"
        init_schema(context.db_url)
    return context.db_url


def query(context, statement) -> list:
    """The rows a statement gives on the scenario's database."""
    engine = make_engine(scenario_db(context))
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    finally:
        engine.dispose()


def run_findings(run) -> list[dict]:
    """Every finding of a run: validation's and the load's."""
    found = []
    for stage in ("validate", "load"):
        path = run.path / stage / "findings.jsonl"
        if path.exists():
            found += list(read_jsonl(path))
    return found

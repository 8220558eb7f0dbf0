"""Test-only: ``ops-pipeline load`` that stops at its commit, for a test to SIGKILL it there.

Run as ``python tests/load_at_commit.py ops-pipeline-arguments...``. When the load's transaction
is about to commit (every row written, the run record completed), this prints one line,
``at-commit LINES RUNS``: the budget lines and run records its own transaction sees, then waits
for its standard input to close, which never happens before the test kills it. Nothing in the
package knows about this: the commit of SQLAlchemy's root transaction is wrapped here.
"""
from __future__ import annotations

import sys

from sqlalchemy import func, select
from sqlalchemy.engine.base import RootTransaction

from ops_pipeline.cli import cli
from ops_pipeline.db.models import PipelineRun
from ops_pipeline.db.ops_models import BudgetLineItem

_commit = RootTransaction.commit


def _stop_at_commit(self) -> None:
    conn = self.connection
    lines = conn.execute(select(func.count()).select_from(BudgetLineItem)).scalar()
    runs = conn.execute(select(func.count()).select_from(PipelineRun)).scalar()
    print(f"at-commit {lines} {runs}", flush=True)
    sys.stdin.read()
    _commit(self)


if __name__ == "__main__":
    RootTransaction.commit = _stop_at_commit
    cli.main(sys.argv[1:], prog_name="ops-pipeline")

"""How long recording the history of N new budget lines takes on PostgreSQL with OPS's schema.

    scripts/with-postgres.sh python scripts/bench_history.py [N]

Builds a fresh OPS database from tests/ops_schema (as the tests do), writes N contract budget
lines in bulk (COPY, not timed), then times ``History.flush()``: the transaction row, the version
rows of both tables, N ops_db_history, N ops_event and N agreement_history rows and their version
rows, all in the one transaction; then the same for a second load that changes every line's
amount (closing the previous versions). Prints the figures and the peak memory.
"""
from __future__ import annotations

import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from ops_pipeline.db import bulk, ops_models as OPS  # noqa: E402
from ops_pipeline.db.history import History, system_user  # noqa: E402
from tests.opsdb import OpsDatabases  # noqa: E402


def T(name):
    return OPS.OpsBase.metadata.tables[f"ops.{name}"]


def main(n: int) -> None:
    maker = OpsDatabases(os.environ["OPS_PIPELINE_TEST_PG_URL"], os.environ.get("OPS_PIPELINE_TEST_PG_ADMIN_URL"),
                         os.environ.get("OPS_PIPELINE_TEST_PG_BINDIR"))
    maker.build_template()
    url = maker.create()
    engine = create_engine(url, poolclass=NullPool)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    try:
        with engine.begin() as conn:
            h = History(conn, now=now)
            h.user_id = system_user(conn, history=h)
            agreement = bulk.reserve_ids(conn, T("agreement"), 1)[0]
            conn.execute(insert(T("agreement")).values(id=agreement, agreement_type="CONTRACT", name="Bench",
                                                       notes="", created_by=h.user_id, created_on=now))
            conn.execute(insert(T("contract_agreement")).values(id=agreement, delivered_status=False))
            h.created("agreement", "ContractAgreement", "agreement",
                      {"id": agreement, "agreement_type": "CONTRACT", "name": "Bench", "notes": ""},
                      "contract_agreement", {"id": agreement, "delivered_status": False})
            columns = ["id", "budget_line_item_type", "agreement_id", "line_description", "comments", "amount",
                       "status", "date_needed", "on_hold", "certified", "closed", "is_under_current_resolution",
                       "doc_received", "is_obe", "proc_shop_fee_percentage", "created_by", "updated_by",
                       "created_on", "updated_on"]
            ids = bulk.reserve_ids(conn, T("budget_line_item"), n)
            rows = [(i, "CONTRACT", agreement, f"Line {i} of the bench", None, f"{i % 99991}.25", "PLANNED",
                     "2026-02-01", False, False, False, False, False, False, None, h.user_id, h.user_id, now, now)
                    for i in ids]
            started = time.perf_counter()
            bulk.insert_rows(conn, T("budget_line_item"), columns, rows)
            bulk.insert_rows(conn, T("contract_budget_line_item"), ["id"], [(i,) for i in ids])
            data = time.perf_counter() - started
            started = time.perf_counter()
            h.created_many("budget_line", "ContractBudgetLineItem", "budget_line_item", columns, rows,
                           "contract_budget_line_item", ["id"], [(i,) for i in ids])
            written = h.flush()
            recorded = time.perf_counter() - started
        print(f"{n} new lines: data rows {data:.2f} s, history {recorded:.2f} s")
        print("rows written:", written)
        with engine.begin() as conn:  # then every line's amount changes, as a reload would change it
            h = History(conn, now=now + dt.timedelta(hours=1))
            h.user_id = system_user(conn, history=h)
            changed = [(i, (f"{i % 99991}.25",), (f"{i % 99991 + 1}.25",)) for i in ids]
            bulk.update_rows(conn, T("budget_line_item"), ["amount"], [(i, new[0]) for i, _, new in changed])
            started = time.perf_counter()
            for i, old, new in changed:
                h.updated("budget_line", "ContractBudgetLineItem", T("budget_line_item"), i,
                          {"amount": old[0]}, {"amount": new[0]}, T("contract_budget_line_item"))
            written = h.flush()
            recorded = time.perf_counter() - started
        print(f"{n} changed lines: history {recorded:.2f} s")
        print("rows written:", written)
        print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        engine.dispose()
        maker.drop(url.rsplit("/", 1)[-1].split("?")[0])
        maker.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)

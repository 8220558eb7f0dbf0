# Writes with the project: see run.sh.
"""Project venv: build an OPS db, create one contract line, change its amount twice; print URL and id."""
import os, sys, datetime as dt
from decimal import Decimal
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from sqlalchemy import create_engine, insert, update
from sqlalchemy.pool import NullPool
from ops_pipeline.db import bulk, ops_models as OPS
from ops_pipeline.db.history import History, system_user
from tests.opsdb import OpsDatabases
T = lambda n: OPS.OpsBase.metadata.tables[f"ops.{n}"]
maker = OpsDatabases(os.environ["OPS_PIPELINE_TEST_PG_URL"], os.environ.get("OPS_PIPELINE_TEST_PG_ADMIN_URL"), os.environ.get("OPS_PIPELINE_TEST_PG_BINDIR"))
maker.build_template(); url = maker.create()
engine = create_engine(url, poolclass=NullPool)
now = dt.datetime(2025, 11, 1, 9, 0)
with engine.begin() as conn:
    h = History(conn, now=now); h.user_id = system_user(conn, history=h)
    a = bulk.reserve_ids(conn, T("agreement"), 1)[0]
    conn.execute(insert(T("agreement")).values(id=a, agreement_type="CONTRACT", name="CC", notes=""))
    conn.execute(insert(T("contract_agreement")).values(id=a, delivered_status=False))
    h.created("agreement", "ContractAgreement", "agreement", {"id": a, "agreement_type": "CONTRACT", "name": "CC", "notes": ""}, "contract_agreement", {"id": a, "delivered_status": False})
    b = bulk.reserve_ids(conn, T("budget_line_item"), 1)[0]
    row = {"id": b, "budget_line_item_type": "CONTRACT", "agreement_id": a, "amount": Decimal("100.00"), "line_description": "x", "on_hold": False, "certified": False, "closed": False, "created_by": h.user_id, "created_on": now, "updated_on": now}
    conn.execute(insert(T("budget_line_item")).values(**row)); conn.execute(insert(T("contract_budget_line_item")).values(id=b))
    h.created("bl", "ContractBudgetLineItem", "budget_line_item", row, "contract_budget_line_item", {"id": b})
    h.flush()
for amount, hour in (("200.00", 10), ("300.00", 11)):
    with engine.begin() as conn:
        h = History(conn, now=now.replace(hour=hour)); h.user_id = system_user(conn, history=h)
        old = conn.execute(update(T("budget_line_item")).where(T("budget_line_item").c.id == b).values(amount=Decimal(amount)).returning(T("budget_line_item").c.id)).scalar()
        h.updated("bl", "ContractBudgetLineItem", "budget_line_item", b, {"amount": str(Decimal(amount) - 100)}, {"amount": amount}, "contract_budget_line_item")
        h.flush()
print(url.replace("postgresql+psycopg", "postgresql+psycopg")); print(b)

"""The MAPS rows budget lines refer to, put straight into an OPS database: users 1-20, CANs 1-10
(numbers G99AB01...), and contracts, grants, IAAs and direct obligations with MAPS ids 1-5 each
(OPS ids 1-20), as the small export set's earlier files would have loaded them - so that the
budget-line tests and scenarios do not depend on those datasets."""
from __future__ import annotations

from sqlalchemy import insert

from ops_pipeline.db import ops_models as m

KINDS = (("CONTRACT", m.ContractAgreement, {"delivered_status": False}), ("GRANT", m.GrantAgreement, {}),
         ("IAA", m.IaaAgreement, {"direction": "OUTGOING"}), ("DIRECT_OBLIGATION", m.DirectAgreement, {}))


def agreement_id(kind: str, maps_id: int) -> int:
    """The OPS id the seeded agreement of that kind and MAPS id has (they differ on purpose)."""
    return [k for k, _, _ in KINDS].index(kind) * 5 + maps_id


def seed_line_parents(conn) -> None:
    """Insert the parents (no history: the tests look at the lines' history only)."""
    conn.execute(insert(m.User.__table__), [
        {"id": i, "email": f"user{i}@example.test", "status": "ACTIVE"} for i in range(1, 21)])
    conn.execute(insert(m.CAN.__table__), [
        {"id": i, "number": f"G99AB{i:02d}", "portfolio_id": 1} for i in range(1, 11)])
    for kind, model, extra in KINDS:
        rows = [{"id": agreement_id(kind, i), "agreement_type": kind, "name": f"{kind.title()} {i}", "notes": "",
                 "maps_sys_id": i} for i in range(1, 6)]
        conn.execute(insert(m.Agreement.__table__), rows)
        conn.execute(insert(model.__table__), [{"id": row["id"], **extra} for row in rows])

"""The MAPS rows the agreement tests refer to, put straight into an OPS database: users 1-20,
projects 1-10, vendors 1-10 and IAA customer agencies 1-5, as the small export set's earlier
files would have loaded them (so that these tests do not depend on those datasets)."""
from __future__ import annotations

from sqlalchemy import insert

from ops_pipeline.db import ops_models as m


def seed_maps_parents(conn) -> None:
    """Insert the parents (no history: these tests look at the agreements' history only)."""
    conn.execute(insert(m.User.__table__), [
        {"id": i, "email": f"user{i}@example.test", "status": "ACTIVE"} for i in range(1, 21)])
    conn.execute(insert(m.Project.__table__), [
        {"id": i, "project_type": "RESEARCH", "title": f"Project {i}", "description": ""} for i in range(1, 11)])
    conn.execute(insert(m.ResearchProject.__table__), [{"id": i} for i in range(1, 11)])
    conn.execute(insert(m.Vendor.__table__), [
        {"id": i, "name": f"Vendor {i}", "active": True} for i in range(1, 11)])
    conn.execute(insert(m.IAACustomerAgency.__table__), [
        {"id": i, "name": f"Agency {i}"} for i in range(1, 6)])

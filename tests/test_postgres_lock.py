"""The load lock on PostgreSQL: an advisory lock held for the transaction, waited for at most the
time asked, without changing the session's own lock_timeout."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from ops_pipeline.db.load import LOAD_LOCK, acquire_load_lock
from ops_pipeline.errors import ConcurrentLoad

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_url):
    engine = create_engine(pg_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def lock_timeout(conn) -> str:
    return conn.execute(text("SHOW lock_timeout")).scalar()


def test_the_lock_leaves_the_session_lock_timeout_as_it_was(engine):
    with engine.connect() as conn:
        conn.execute(text("SET lock_timeout = '7s'"))
        conn.commit()
        with conn.begin():
            acquire_load_lock(conn, 2.5)
            assert lock_timeout(conn) == "7s"  # not 0, not the 2.5 s of the wait
            held = conn.execute(text("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND pid = pg_backend_pid() AND granted")).scalar()
            assert held == 1
        assert lock_timeout(conn) == "7s"
        # Released with the transaction (an xact lock): someone else can take it at once.
        with engine.connect() as other, other.begin():
            assert other.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), {"k": LOAD_LOCK}).scalar()


def test_waiting_for_the_lock_stops_after_the_time_asked(engine):
    with engine.connect() as holder, holder.begin():
        holder.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": LOAD_LOCK})
        with engine.connect() as conn:
            conn.execute(text("SET lock_timeout = '7s'"))
            conn.commit()
            started = time.monotonic()
            with pytest.raises(OperationalError) as raised:
                with conn.begin():
                    acquire_load_lock(conn, 0.4)
            assert 0.3 < time.monotonic() - started < 5
            assert raised.value.orig.sqlstate == "55P03"  # lock_not_available: the load reports ConcurrentLoad
            assert lock_timeout(conn) == "7s"
            conn.rollback()
            with pytest.raises(ConcurrentLoad, match=r"^another load holds the database lock \(did not wait\)"):
                with conn.begin():
                    acquire_load_lock(conn, 0)

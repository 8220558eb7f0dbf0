"""Steps for MAPS agreements (contracts, grants, IAAs, direct obligations): the library functions
the CLI calls (``run_pipeline``, ``start_run`` + ``run_stage``)."""
from pathlib import Path

from behave import given, then, when
from sqlalchemy import func, insert, select

from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.pipeline import Options, run_pipeline, run_stage, start_run
from ops_pipeline.rundir import read_jsonl
from tests.maps_steps import scenario_db as _db

SMALL = Path(__file__).resolve().parents[2] / "tests" / "data" / "maps" / "small"
KINDS = {"contract": "CONTRACT", "grant": "GRANT", "IAA": "IAA", "direct obligation": "DIRECT_OBLIGATION"}
FILES = {"contracts": "contracts.tsv", "grants": "grants.tsv", "IAAs": "iaas.tsv",
         "direct obligations": "direct_obligations.tsv"}


def _engine(context):
    return make_engine(_db(context))


def _counts(context) -> dict:
    tables = (m.transaction_table, m.OpsDBHistory.__table__, m.OpsEvent.__table__)
    engine = _engine(context)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables}
    finally:
        engine.dispose()


def _run(context, path: Path) -> None:
    context.outcome = run_pipeline(str(path), runs_root=context.runs_root, db_url=_db(context))
    context.report = context.outcome.report
    context.outcomes = getattr(context, "outcomes", []) + [context.outcome]
    context.histories = getattr(context, "histories", []) + [_counts(context)]


def _write_tsv(context, name: str, header: list[str], rows: list[list[str]]) -> Path:
    folder = context.tmp / f"export{len(getattr(context, 'outcomes', []))}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join("\t".join(r) + "\n" for r in [header, *rows]), encoding="utf-8")
    return path


def _agreement(context, kind: str, maps_id: int) -> dict | None:
    a = m.Agreement.__table__
    engine = _engine(context)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(a).where(a.c.agreement_type == KINDS[kind], a.c.maps_sys_id == maps_id)).first()
            if row is None:
                return None
            values = row._asdict()
            sub = m.Agreement.__mapper__.polymorphic_map[values["agreement_type"]].local_table
            values.update(conn.execute(select(sub).where(sub.c.id == values["id"])).one()._asdict())
            return values
    finally:
        engine.dispose()


# -- OPS before the files ---------------------------------------------------------------------

@given("OPS has the MAPS users 1-20, projects 1-10, vendors 1-10 and IAA customer agencies 1-5")
def step_parents(context):
    engine = _engine(context)
    try:
        with engine.begin() as conn:
            conn.execute(insert(m.User.__table__), [
                {"id": i, "email": f"user{i}@example.test", "status": "ACTIVE"} for i in range(1, 21)])
            conn.execute(insert(m.Project.__table__), [
                {"id": i, "project_type": "RESEARCH", "title": f"Project {i}", "description": ""}
                for i in range(1, 11)])
            conn.execute(insert(m.ResearchProject.__table__), [{"id": i} for i in range(1, 11)])
            conn.execute(insert(m.Vendor.__table__), [
                {"id": i, "name": f"Vendor {i}", "active": True} for i in range(1, 11)])
            conn.execute(insert(m.IAACustomerAgency.__table__), [
                {"id": i, "name": f"Agency {i}"} for i in range(1, 6)])
    finally:
        engine.dispose()


@given('OPS has the contract "{name}" that someone created in OPS')
def step_ops_contract(context, name):
    engine = _engine(context)
    try:
        with engine.begin() as conn:
            conn.execute(insert(m.Agreement.__table__).values(id=900, agreement_type="CONTRACT", name=name,
                                                              notes="", description="made in OPS"))
            conn.execute(insert(m.ContractAgreement.__table__).values(id=900, delivered_status=False,
                                                                      contract_number="OPS-900"))
    finally:
        engine.dispose()
    context.ops_contract = name


# -- the files go through the pipeline --------------------------------------------------------

@when('the MAPS files "{names}" of the small export go through the pipeline')
def step_small_files(context, names):
    for name in (n.strip() for n in names.split(",")):
        _run(context, SMALL / name)


@given('the MAPS file "{name}" of the small export has been loaded')
def step_small_loaded(context, name):
    _run(context, SMALL / name)
    assert context.outcome.error is None, context.outcome.error.one_line()


@when('the MAPS file "{name}" of the small export goes through the pipeline again')
def step_small_again(context, name):
    _run(context, SMALL / name)


@when("MAPS exports contract 1 again with vendor {vendor:d} and a blank CONTRACT_NBR")
def step_contract_changed(context, vendor):
    lines = (SMALL / "contracts.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    row = lines[1].split("\t")
    row[header.index("SYS_VENDOR_ID")] = str(vendor)
    row[header.index("CONTRACT_NBR")] = ""
    _run(context, _write_tsv(context, "contracts.tsv", header, [row]))


@when("a MAPS {kind} file with these rows goes through the pipeline:")
def step_rows(context, kind):
    table = context.table
    _run(context, _write_tsv(context, FILES.get(kind, f"{kind}.tsv"), list(table.headings),
                             [[row[h] for h in table.headings] for row in table]))


# -- what OPS then holds ----------------------------------------------------------------------

@then("every load succeeds")
def step_every_load(context):
    for outcome in context.outcomes:
        assert outcome.error is None, outcome.error.one_line()


@then("OPS has {count:d} agreements of each kind: contract, grant, IAA and direct obligation")
def step_each_kind(context, count):
    a = m.Agreement.__table__
    engine = _engine(context)
    try:
        with engine.connect() as conn:
            found = dict(conn.execute(select(a.c.agreement_type, func.count()).group_by(a.c.agreement_type)).all())
    finally:
        engine.dispose()
    assert found == {kind: count for kind in KINDS.values()}, found


@then("OPS has these agreements:")
def step_agreements(context):
    columns = {"name": "name", "project": "project_id", "vendor": "vendor_id",
               "customer agency": "iaa_customer_agency_id", "COTR": "cotr_id", "start date": "start_date",
               "end date": "end_date"}
    for row in context.table:
        stored = _agreement(context, row["kind"], int(row["MAPS id"]))
        assert stored is not None, f"no {row['kind']} {row['MAPS id']}"
        for heading, column in columns.items():
            want = row[heading] or None
            have = stored.get(column)
            assert (str(have) if have is not None else None) == want, (row["kind"], row["MAPS id"], heading, have)
        want_psc = row["PSC (NAICS)"] or None
        psc = stored.get("product_service_code_id")
        if psc is None:
            assert want_psc is None, (row["kind"], row["MAPS id"], "PSC", psc)
        else:
            engine = _engine(context)
            try:
                with engine.connect() as conn:
                    naics = conn.execute(select(m.ProductServiceCode.naics).where(m.ProductServiceCode.id == psc)).scalar()
            finally:
                engine.dispose()
            assert str(naics) == want_psc, (row["kind"], row["MAPS id"], "PSC", naics)


@then("every IAA is outgoing")
def step_outgoing(context):
    engine = _engine(context)
    try:
        with engine.connect() as conn:
            directions = set(conn.execute(select(m.IaaAgreement.__table__.c.direction)).scalars())
    finally:
        engine.dispose()
    assert directions == {"OUTGOING"}, directions


@then("grant {maps_id:d} has total funding {amount} over {years:d} years for {grants:d} grants")
def step_grant_funding(context, maps_id, amount, years, grants):
    stored = _agreement(context, "grant", maps_id)
    assert (str(stored["total_funding"]), stored["number_of_years"], stored["number_of_grants"]) == \
        (amount, years, grants), stored


@then("every agreement of the second load is unchanged and OPS recorded no history for it")
def step_unchanged(context):
    counts = context.report["entities"]["agreement"]
    assert counts["inserted"] == counts["updated"] == 0 and counts["unchanged"] == 5, counts
    assert context.histories[-1] == context.histories[-2], context.histories


@then('contract {maps_id:d} has vendor {vendor:d} and still has the contract number "{number}"')
def step_contract_vendor(context, maps_id, vendor, number):
    stored = _agreement(context, "contract", maps_id)
    assert (stored["vendor_id"], stored["contract_number"]) == (vendor, number), stored


@then('OPS recorded the event "{event}" for contract {maps_id:d}')
def step_event(context, event, maps_id):
    stored = _agreement(context, "contract", maps_id)
    e = m.OpsEvent.__table__
    engine = _engine(context)
    try:
        with engine.connect() as conn:
            events = conn.execute(select(e.c.event_type, e.c.event_details).order_by(e.c.id.desc())).all()
    finally:
        engine.dispose()
    last_type, details = events[0]
    assert last_type == event, events[:3]
    assert details["agreement_updates"]["owner_id"] == stored["id"], details


@then("grant {maps_id:d} has no project and no project officer")
def step_grant_without(context, maps_id):
    stored = _agreement(context, "grant", maps_id)
    assert stored is not None and stored["project_id"] is None and stored["project_officer_id"] is None, stored


@then('the file has the error "{code}" at {cell}')
def step_error_at(context, code, cell):
    entry = context.report["findings_detail"].get(code)
    assert entry, sorted(context.report["findings_detail"])
    cells = [f.get("cell") for f in entry["first"]]
    assert cell in cells, cells


@then('the load is refused, nothing written, at {cell} saying "{text}"')
def step_refused_at(context, cell, text):
    # A refused load writes nothing; its error names the first record OPS cannot take, with its cell.
    error = context.outcome.error
    assert error is not None, "the load was not refused"
    message = error.one_line()
    assert "nothing was loaded" in message and f"{cell}: " in message and text in message, message


@when("the operator loads the rest with --accept-rejects")
def step_accept_rejects(context):
    run = context.outcome.run
    run_stage("load", run, Options(db_url=_db(context), accept_rejects=True))
    context.report = run_stage("report", run)


@then('the contract "{name}" in OPS is unchanged')
def step_ops_contract_unchanged(context, name):
    a = m.Agreement.__table__
    engine = _engine(context)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(a.c.id, a.c.name, a.c.maps_sys_id, a.c.description)
                                .where(func.lower(a.c.name) == name.lower())).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(900, name, None, "made in OPS")], rows


# -- single cells -------------------------------------------------------------------------------

NAMES = {"contracts": ("CONTRACT_NAME", "SYS_CONTRACT_ID"), "grants": ("GRANTS_TITLE", "SYS_GRANTS_ID")}


@when('a MAPS {kind} file has "{text}" in {column}')
def step_one_cell(context, kind, text, column):
    name, sys_id = NAMES[kind]
    path = _write_tsv(context, f"{kind}.tsv", [name, sys_id, column], [["Cell Check", "1", text]])
    run = start_run(str(path), context.runs_root, dataset=f"maps-{kind}")
    context.cell_summary = run_stage("validate", run)
    context.cell_run = run
    context.cell_column = column


@then("the cell is read as {value}")
def step_cell_read(context, value):
    rows = list(read_jsonl(context.cell_run.path / "validate" / "valid_rows.jsonl"))
    assert len(rows) == 1, rows
    values = rows[0]["values"]
    assert str(values[context.cell_column.lower()]) == value, values


@then('the cell is an error "{code}"')
def step_cell_error(context, code):
    findings = list(read_jsonl(context.cell_run.path / "validate" / "findings.jsonl"))
    found = [(f["code"], f.get("cell")) for f in findings]
    assert any(c == code and (cell or "").endswith(f":2:{context.cell_column}") for c, cell in found), found

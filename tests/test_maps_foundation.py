"""MAPS exports: the tab-separated reader, recognising a file's dataset, and the rules every MAPS
dataset shares (header, short rows, duplicate keys, id ranges), shown on users and projects."""
from pathlib import Path

import pytest
from sqlalchemy import select

from ops_pipeline.db.engine import make_engine

from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.db.ops_models import Project, User
from ops_pipeline.errors import DataInvalid, LimitExceeded, UnreadableFile
from ops_pipeline.maps import MapsDataset, maps_datasets, recognise, recognise_file
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.readers.guard import Limits
from ops_pipeline.readers.tsv import TsvBook
from ops_pipeline.rundir import read_jsonl

DATA = Path(__file__).parent / "data" / "maps"


def _write(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rows(path, **limits):
    with TsvBook(path, path.name, Limits(**limits) if limits else None) as book:
        return list(book.rows())


# -- the reader ---------------------------------------------------------------------------------

def test_a_record_is_its_cells_with_the_line_it_starts_on(tmp_path):
    path = _write(tmp_path, "users.tsv",
                  b'\xef\xbb\xbfA\tB\tC\r\n1\t""\tx\r\n2\t"two\r\nlines"\t\r\n\r\n3\n4\tonly two\n')
    assert _rows(path) == [
        (1, ("A", "B", "C")),          # the byte-order mark is not part of the first header
        (2, ("1", None, "x")),         # "" is an empty cell
        (3, ("2", "two\r\nlines", None)),  # a quoted cell spans lines; the record starts on line 3
        (5, ()),                        # a blank line
        (6, ("3",)),                    # a short row stays short: its missing cells are absent
        (7, ("4", "only two")),
    ]


@pytest.mark.parametrize("data, line, words", [
    (b"A\tB\n1\t2\n3\t\xff\xfe\n", 3, "not UTF-8"),
    (b"A\tB\n1\t2\x00\n", 2, "NUL"),
    (b'A\tB\n1\t"never closed\n2\t3\n', 2, "not well-formed"),
])
def test_text_that_is_not_a_clean_export_is_one_error_naming_the_line(tmp_path, data, line, words):
    path = _write(tmp_path, "x.tsv", data)
    with pytest.raises(UnreadableFile) as caught:
        _rows(path)
    assert f"line {line}" in str(caught.value) and words in str(caught.value)
    assert caught.value.row == line


def test_the_limits_hold_for_text_exports_too(tmp_path):
    path = _write(tmp_path, "x.tsv", b"A\tB\n1\t" + b"x" * 50 + b"\n")
    with pytest.raises(LimitExceeded, match="line 2: a cell holds more than 40"):
        _rows(path, max_cell_chars=40)
    rows = _write(tmp_path, "y.tsv", b"A\n" + b"1\n" * 20)
    with pytest.raises(LimitExceeded, match="more than 10 rows"):
        _rows(rows, max_rows=10)
    wide = _write(tmp_path, "z.tsv", b"\t".join([b"c"] * 30) + b"\n")
    with pytest.raises(LimitExceeded, match="30 columns, more than 20"):
        _rows(wide, max_columns=20)


# -- which dataset --------------------------------------------------------------------------------

def test_every_maps_dataset_is_found_in_dependency_order():
    found = maps_datasets()
    assert {"maps-users", "maps-projects"} <= {cls.name for cls in found}
    assert [cls.tier for cls in found] == sorted(cls.tier for cls in found)
    assert all(issubclass(cls, MapsDataset) and cls.tier >= 1 for cls in found)


def test_a_file_is_recognised_from_its_header_whatever_its_name(tmp_path):
    assert recognise_file(DATA / "small" / "users.tsv").name == "maps-users"
    renamed = _write(tmp_path, "export-17.tsv", (DATA / "small" / "projects.tsv").read_bytes())
    assert recognise_file(renamed).name == "maps-projects"
    # Order and case of the headers do not matter.
    assert recognise(("project_type", "Project Title")).name == "maps-projects"


def test_an_unknown_header_is_one_error_listing_the_known_datasets():
    with pytest.raises(DataInvalid) as caught:
        recognise(("Colour", "Shape"), file="odd.tsv")
    assert "not that of any MAPS export" in str(caught.value)
    assert "maps-users" in caught.value.hint and "maps-projects" in caught.value.hint


# -- the shared rules, through the stages ---------------------------------------------------------

def test_users_and_projects_load_and_a_rerun_changes_nothing(runs_root, sqlite_url):
    for name in ("users", "projects"):
        outcome = run_pipeline(str(DATA / "small" / f"{name}.tsv"), runs_root=runs_root, db_url=sqlite_url)
        assert outcome.error is None, outcome.error
        assert outcome.run.dataset == f"maps-{name}"
    again = run_pipeline(str(DATA / "small" / "users.tsv"), runs_root=runs_root, db_url=sqlite_url)
    assert again.run.stage_info("load")["counts"]["ops_user"]["unchanged"] == 20  # users.tsv's rows
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        users = {u.id: u for u in conn.execute(select(User)).all()}
        projects = {p.id: p for p in conn.execute(select(Project)).all()}
    engine.dispose()
    # MAPS ids are OPS ids; the system user the load acts as is not one of them.
    assert set(range(1, 21)) <= set(users) and users[4].status == "LOCKED"
    assert all(uid >= 500 for uid in set(users) - set(range(1, 21)))
    assert projects[2].project_type == "RESEARCH"  # "Research": any case
    assert projects[3].project_type == "ADMINISTRATIVE_AND_SUPPORT"
    assert projects[2].description == ""


def test_every_bad_cell_is_a_coded_finding_naming_file_line_and_column(runs_root, sqlite_url):
    outcome = run_pipeline(str(DATA / "bad" / "users.tsv"), runs_root=runs_root, db_url=sqlite_url)
    assert isinstance(outcome.error, DataInvalid)
    findings = {(f["code"], f["cell"]) for f in read_jsonl(outcome.run.path / "validate" / "findings.jsonl")}
    assert findings >= {
        ("COLUMN_UNKNOWN", "users.tsv:1:FAVOURITE_COLOUR"),
        ("ROLE_DROPPED", "users.tsv:2:ROLES"),
        ("ID_OUT_OF_RANGE", "users.tsv:3:SYS_USER_ID"),
        ("VALUE_COERCED", "users.tsv:3:STATUS"),
        ("KEY_DUPLICATE", "users.tsv:4:SYS_USER_ID"),
        ("ROW_TRUNCATED", "users.tsv:5:EMAIL"),
        ("BAD_ENUM", "users.tsv:6:STATUS"),
    }
    rejected = [r["row"] for r in read_jsonl(outcome.run.path / "validate" / "rejected.jsonl")]
    assert rejected == [3, 4, 5, 6]
    assert outcome.run.stage_info("transform") == {} or outcome.run.stage_info("transform").get("status") != "succeeded"


def test_a_missing_required_column_refuses_the_file(tmp_path, runs_root, sqlite_url):
    path = _write(tmp_path, "projects.tsv", b"SYS_PROJECT_ID\tPROJECT_TITLE\n1\tA project\n")
    outcome = run_pipeline(str(path), runs_root=runs_root, db_url=sqlite_url, dataset="maps-projects")
    assert isinstance(outcome.error, DataInvalid)
    assert "PROJECT_TYPE" in str(outcome.error)


def test_personal_columns_are_masked_in_findings(runs_root, sqlite_url, tmp_path):
    path = _write(tmp_path, "users.tsv", b"SYS_USER_ID\tEMAIL\tSTATUS\n1\tsecret.person@example.gov\tnope\n"
                  b"1\tsecret.person@example.gov\tACTIVE\n")
    outcome = run_pipeline(str(path), runs_root=runs_root, db_url=sqlite_url)
    text = (outcome.run.path / "validate" / "findings.jsonl").read_text()
    assert "KEY_DUPLICATE" in text and "secret.person" not in text
    assert get_dataset("maps-users").pii_fields() == {"email", "first_name", "last_name"}


def test_a_blank_status_makes_a_new_user_inactive_and_leaves_a_known_user_as_it_is(tmp_path, runs_root, sqlite_url):
    first = _write(tmp_path, "users.tsv", b"SYS_USER_ID\tEMAIL\tSTATUS\n7\tseven@example.gov\tACTIVE\n")
    assert run_pipeline(str(first), runs_root=runs_root, db_url=sqlite_url).error is None
    later = _write(tmp_path, "users2.tsv", b"SYS_USER_ID\tEMAIL\tSTATUS\n7\tseven@example.gov\t\n"
                   b"8\teight@example.gov\t\n")
    outcome = run_pipeline(str(later), runs_root=runs_root, db_url=sqlite_url)
    assert outcome.error is None, outcome.error
    codes = [f["code"] for f in read_jsonl(outcome.run.path / "validate" / "findings.jsonl")]
    assert codes == ["VALUE_COERCED", "VALUE_COERCED"]
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        status = dict(conn.execute(select(User.id, User.status).where(User.id.in_([7, 8]))).all())
    engine.dispose()
    assert status == {7: "ACTIVE", 8: "INACTIVE"}


def test_a_column_every_row_must_fill_must_be_in_the_header(tmp_path, runs_root, sqlite_url):
    path = _write(tmp_path, "users.tsv", b"EMAIL\tSTATUS\nsomeone@example.gov\tACTIVE\n")
    outcome = run_pipeline(str(path), runs_root=runs_root, db_url=sqlite_url)
    assert isinstance(outcome.error, DataInvalid)
    assert "SYS_USER_ID" in str(outcome.error) and "missing" in str(outcome.error)


@pytest.mark.parametrize("text, number", [
    ("1,234.50", "1234.50"), ("12", "12"), (".5", "0.5"), ("-3", "-3"),
    ("234,1552,303.08", None), ("1,2", None), ("1e3", None), ("NaN", None), ("١٢", None), ("１２", None),
])
def test_a_number_is_ascii_digits_with_commas_only_between_thousands(text, number):
    from decimal import Decimal

    from ops_pipeline.maps import Parse

    p = Parse({"n": text})
    value = p.number("n")
    assert value == (Decimal(number) if number else None)
    assert [x.code for x in p.problems] == ([] if number else ["BAD_NUMBER"])


@pytest.mark.parametrize("text", ["１２", "١٢", "12a", "1.5"])
def test_an_id_is_ascii_digits(text):
    from ops_pipeline.maps import Parse

    p = Parse({"id": text})
    assert p.id("id", "ops_user") is None and [x.code for x in p.problems] == ["BAD_NUMBER"]

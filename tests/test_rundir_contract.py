"""The run directory's bookkeeping, pinned where mutation testing found it unpinned: which later
stages a rerun marks stale, what a stage's record holds, and the sha256 of staged files (how
JSON Lines are counted, hashed and read back, whatever the block boundaries)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ops_pipeline.errors import IntegrityError, StageNotReady
from ops_pipeline.rundir import (STAGES, RunDir, atomic_write, read_json, read_jsonl, sha256_file, write_json,
                                 write_jsonl)


@pytest.fixture
def rd(tmp_path) -> RunDir:
    return RunDir.create(tmp_path / "runs", dataset="budget_workbook", source={"name": "fy25.xlsx"})


def _statuses(rd: RunDir) -> dict:
    return {name: rd.status(name) for name in STAGES}


# -- stale ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("before, after", [
    ("pending", "pending"), ("succeeded", "stale"), ("failed", "stale"), ("running", "stale"), ("stale", "stale"),
])
@pytest.mark.parametrize("ending", ["succeed", "fail"])
def test_a_stage_that_ends_marks_every_later_stage_that_ran_stale_and_no_earlier_one(rd, ending, before, after):
    for name in STAGES:
        rd.manifest["stages"][name]["status"] = before
    rd.begin("validate")
    if ending == "succeed":
        rd.succeed("validate")
    else:
        rd.fail("validate", {"code": "boom"})
    rd.reload()  # what the next command reads
    assert _statuses(rd) == {"fetch": before, "validate": "succeeded" if ending == "succeed" else "failed",
                             "transform": after, "load": after, "report": after}


def test_the_last_stage_marks_nothing_stale(rd):
    for name in STAGES:
        rd.manifest["stages"][name]["status"] = "succeeded"
    rd.fail("report", {"code": "boom"})
    assert _statuses(rd) == {**{name: "succeeded" for name in STAGES}, "report": "failed"}


def test_begin_forgets_what_the_previous_attempt_recorded(rd):
    rd.begin("validate")
    rd.fail("validate", {"code": "boom"}, partial=True)
    rd.begin("validate")
    rd.reload()
    info = rd.stage_info("validate")
    assert sorted(info) == ["started_at", "status"] and info["status"] == "running"


def test_a_stage_record_holds_its_inputs_outputs_and_counts(rd):
    out = rd.stage_dir("validate") / "valid_rows.jsonl"
    out.write_bytes(b'{"a":1}\n')
    rd.begin("validate")
    rd.succeed("validate", inputs=iter([{"path": "fetch/x", "sha256": "0" * 64}]),
               outputs=iter([rd.output_record(out, rows=1)]), counts={"rows": 1}, workers=2)
    rd.reload()
    info = rd.stage_info("validate")
    assert info["inputs"] == [{"path": "fetch/x", "sha256": "0" * 64}]
    assert info["outputs"] == [{"path": "validate/valid_rows.jsonl", "rows": 1,
                                "sha256": hashlib.sha256(b'{"a":1}\n').hexdigest()}]
    assert info["counts"] == {"rows": 1} and info["workers"] == 2
    assert info["finished_at"] >= info["started_at"]
    assert rd.events()[-1]["event"] == "stage-succeeded" and rd.events()[-1]["counts"] == {"rows": 1}


def test_a_stage_without_counts_or_outputs_records_empty_ones(rd):
    rd.begin("validate")
    rd.succeed("validate")
    rd.begin("transform")
    rd.fail("transform", {"code": "boom"})
    rd.reload()
    assert (rd.stage_info("validate")["counts"], rd.stage_info("validate")["outputs"]) == ({}, [])
    assert rd.stage_info("validate")["inputs"] == []
    assert rd.stage_info("transform")["outputs"] == [] and rd.stage_info("transform")["error"] == {"code": "boom"}
    assert rd.events()[-1]["event"] == "stage-failed" and rd.events()[-1]["level"] == "error"
    assert rd.events()[-1]["error"] == {"code": "boom"} and rd.events()[-1]["stage"] == "transform"
    assert rd.stage_info("transform")["finished_at"] >= rd.stage_info("transform")["started_at"]


# -- checksums ------------------------------------------------------------------------------------

def _recorded(rd: RunDir, stage: str, *names: str, content: bytes = b"x\n") -> list:
    outputs = []
    for name in names:
        path = rd.stage_dir(stage) / name
        path.write_bytes(content + name.encode())
        outputs.append(rd.output_record(path))
    rd.begin(stage)
    rd.succeed(stage, outputs=outputs)
    return outputs


def test_an_output_record_is_the_relative_path_and_the_sha256_of_the_file(rd):
    path = rd.stage_dir("transform") / "entities.jsonl"
    path.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert rd.output_record(path) == {"path": "transform/entities.jsonl", "sha256": digest}
    assert rd.output_record(path, rows=0) == {"path": "transform/entities.jsonl", "sha256": digest, "rows": 0}
    assert rd.output_record(path, sha256="f" * 64)["sha256"] == "f" * 64  # the writer's own hash


def test_an_input_written_by_a_stage_carries_the_sha256_that_stage_recorded(rd):
    first, second = _recorded(rd, "transform", "a.jsonl", "b.jsonl")
    b = rd.path / second["path"]
    b.write_bytes(b"changed since")  # require() would refuse this; input_record trusts the record
    assert rd.input_record(b, "transform") == second
    assert rd.input_record(rd.path / first["path"], "transform") == first
    assert rd.input_record(b) == {"path": "transform/b.jsonl", "sha256": hashlib.sha256(b"changed since").hexdigest()}


def test_a_stage_that_recorded_no_outputs_has_nothing_to_verify_and_vouches_for_no_input(rd):
    """A stage that never ran (or was begun and killed) has no "outputs" in its record."""
    path = rd.stage_dir("validate") / "valid_rows.jsonl"
    path.write_bytes(b"abc")
    rd.begin("validate")
    for stage in ("validate", "transform"):
        assert "outputs" not in rd.stage_info(stage)
        rd.verify_outputs(stage)
        assert rd.input_record(path, stage) == {"path": "validate/valid_rows.jsonl",
                                                "sha256": hashlib.sha256(b"abc").hexdigest()}


def test_require_names_the_stage_that_wants_the_input_and_the_rerun_of_the_one_that_wrote_it(rd):
    [output] = _recorded(rd, "transform", "entities.jsonl")
    assert rd.require("load", "transform")["status"] == "succeeded"
    (rd.path / output["path"]).write_bytes(b"tampered")
    with pytest.raises(IntegrityError) as caught:
        rd.require("load", "transform")
    assert caught.value.one_line() == (
        f"load: transform/entities.jsonl no longer matches the sha256 recorded by transform "
        f"(hint: rerun: ops-pipeline transform {rd.path})")
    (rd.path / output["path"]).unlink()
    with pytest.raises(IntegrityError) as caught:
        rd.require("load", "transform")
    assert caught.value.one_line() == (
        f"load: transform/entities.jsonl recorded by transform is missing (hint: rerun: ops-pipeline transform {rd.path})")
    with pytest.raises(IntegrityError) as caught:
        rd.verify_outputs("transform")
    assert caught.value.stage == "transform" and caught.value.run_id == rd.run_id


def test_a_refusal_names_the_run_it_refuses(rd):
    rd.begin("transform")
    rd.fail("transform", {"code": "boom"})
    with pytest.raises(StageNotReady) as caught:
        rd.require("load", "transform")
    assert (caught.value.stage, caught.value.run_id) == ("load", rd.run_id)
    assert caught.value.one_line() == f"load: cannot run load: stage transform is failed (hint: ops-pipeline transform {rd.path})"
    [output] = _recorded(rd, "transform", "entities.jsonl")
    (rd.path / output["path"]).write_bytes(b"tampered")
    with pytest.raises(IntegrityError) as caught:
        rd.require("load", "transform")
    assert caught.value.run_id == rd.run_id


def test_every_output_is_checked_not_only_the_first(rd):
    _, second = _recorded(rd, "transform", "a.jsonl", "b.jsonl")
    rd.verify_outputs("transform")
    (rd.path / second["path"]).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="b.jsonl no longer matches"):
        rd.verify_outputs("transform")


def test_a_purged_run_says_so_instead_of_calling_the_file_missing(rd):
    [output] = _recorded(rd, "transform", "entities.jsonl")
    rd.manifest["purged_at"] = "2026-11-01T00:00:00Z"
    rd.verify_outputs("transform")  # still there: nothing to say
    (rd.path / output["path"]).unlink()
    with pytest.raises(IntegrityError) as caught:
        rd.require("load", "transform")
    assert (caught.value.stage, caught.value.run_id) == ("load", rd.run_id)
    assert caught.value.one_line() == (
        "load: the staged data of this run was purged on 2026-11-01T00:00:00Z (transform/entities.jsonl is gone); "
        "its manifest, report and event log remain (hint: fetch the source file again into a new run: "
        "ops-pipeline fetch FILE)")


def test_sha256_file_reads_a_file_in_blocks_of_any_size(tmp_path):
    path = tmp_path / "f"
    data = bytes(range(256)) * 41
    path.write_bytes(data)
    assert {sha256_file(path, bufsize=n) for n in (1, 7, 4096, 1 << 20)} == {hashlib.sha256(data).hexdigest()}


# -- JSON Lines: counted and hashed as written ----------------------------------------------------

@pytest.mark.parametrize("how", ["write", "write_all", "write_line", "write_lines"])
def test_a_jsonl_writer_counts_and_hashes_exactly_what_reaches_the_file(tmp_path, how):
    records = [{"n": i, "text": "é" * (i % 3)} for i in range(2500)]  # more than two blocks of 1024
    path = tmp_path / "out.jsonl"
    with write_jsonl(path) as writer:
        if how == "write":
            for record in records:
                writer.write(record)
        elif how == "write_all":
            writer.write_all(records[:1])
            writer.write_all(iter(records[1:]))
        elif how == "write_line":
            for record in records:
                writer.write_line(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        else:
            encoded = [json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records]
            writer.write_lines(encoded[:1000])
            writer.write_lines(encoded[1000:])
    assert writer.count == len(records)
    assert writer.sha256 == sha256_file(path)
    assert list(read_jsonl(path)) == records


def test_a_jsonl_writer_hashes_pending_lines_when_asked_mid_way(tmp_path):
    path = tmp_path / "out.jsonl"
    with write_jsonl(path) as writer:
        writer.write({"a": 1})
        assert writer.sha256 == hashlib.sha256(b'{"a":1}\n').hexdigest()
        writer.write({"b": 2})
    assert writer.sha256 == sha256_file(path) == hashlib.sha256(b'{"a":1}\n{"b":2}\n').hexdigest()


@pytest.mark.parametrize("block", [1, 2, 5, 8, 9, 1 << 20])
def test_read_jsonl_gives_every_record_whatever_the_block_boundaries(tmp_path, block):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n\n  \n{"b":[2,3]}\n{"c":"x y"}')  # blank lines, no final newline
    assert list(read_jsonl(path, block=block)) == [{"a": 1}, {"b": [2, 3]}, {"c": "x y"}]


# -- atomic writes --------------------------------------------------------------------------------

def test_an_interrupted_write_leaves_the_previous_content_and_no_temporary_file(tmp_path):
    path = tmp_path / "stage" / "summary.json"
    write_json(path, {"good": True})
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as handle:
            handle.write('{"half": ')
            raise KeyboardInterrupt
    assert read_json(path) == {"good": True}
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_write_json_keeps_path_values_verbatim(tmp_path):
    path = tmp_path / "result.json"
    name = "fetch/jane.doe@example.gov 202-555-0147.xlsx"
    write_json(path, {"path": name, "outputs": [{"path": name}]})
    assert read_json(path) == {"path": name, "outputs": [{"path": name}]}
    assert path.read_text(encoding="utf-8").endswith("}\n")


def test_write_json_writes_the_document_in_its_own_order_indented_and_what_json_cannot_hold_as_text(tmp_path):
    """The manifest and summaries are read by people too: keys stay in the order the stage wrote
    them (run_id first, not alphabetical), two spaces of indent, a final newline."""
    import datetime as dt

    path = tmp_path / "summary.json"
    write_json(path, {"run_id": "r1", "counts": {"rows": 2}, "at": dt.date(2025, 10, 1), "file": Path("a/b.xlsx")})
    assert path.read_text(encoding="utf-8") == (
        '{\n  "run_id": "r1",\n  "counts": {\n    "rows": 2\n  },\n  "at": "2025-10-01",\n  "file": "a/b.xlsx"\n}\n')


def test_a_jsonl_writer_writes_what_json_cannot_hold_as_text(tmp_path):
    import datetime as dt
    from decimal import Decimal

    path = tmp_path / "out.jsonl"
    with write_jsonl(path) as writer:
        writer.write({"amount": Decimal("1234.50")})
        writer.write_all([{"amount": Decimal("-0.01"), "day": dt.date(2025, 3, 11)}])
    assert list(read_jsonl(path)) == [{"amount": "1234.50"}, {"amount": "-0.01", "day": "2025-03-11"}]

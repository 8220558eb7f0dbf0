"""transform: apply the business rules to the valid rows; write entities with their lineage."""
from __future__ import annotations

import contextlib
import itertools
import operator

from ..rundir import RunDir, read_json, read_jsonl, write_json, write_jsonl
from . import exclusive, layout_of, recorded

SUMMARY = "summary.json"


def entity_file(kind: str) -> str:
    return f"{kind}.jsonl"


@exclusive("transform")
def transform(run: RunDir, *, accept_rejects: bool = False) -> dict:
    """Turn validate's valid rows into entity records, one JSON Lines file per entity kind.

    ``accept_rejects`` records that the rows validate rejected were left out on purpose. Whether
    a run with rejected rows may be transformed at all is the orchestrator's decision
    (:func:`ops_pipeline.pipeline.refusal`): go through ``pipeline.run_stage("transform", ...)``.
    """
    info = run.require("transform", "validate")
    dataset = layout_of(run)
    rejected = info.get("counts", {}).get("rejected", 0)
    with recorded(run, "transform"):
        vdir = run.path / "validate"
        vsummary = read_json(vdir / "summary.json")
        # The columns the sheet has: a dataset may leave a value out when its column is absent
        # (the load then keeps what OPS has, rather than emptying it).
        context = {"sheet": vsummary.get("sheet"), "file_sha256": run.manifest["source"].get("sha256"),
                   "columns": vsummary.get("columns")}
        result = dataset.transform(read_jsonl(vdir / "valid_rows.jsonl"), context)
        out = run.stage_dir("transform")
        with contextlib.ExitStack() as stack:
            writers = {
                kind: stack.enter_context(write_jsonl(out / entity_file(kind)))
                for kind in dataset.entity_order
            }
            for kind, records in itertools.groupby(result.entities, key=operator.itemgetter("entity")):
                writers[kind].write_all(records)
        summary = result.summary()
        summary["accepted_rejects"] = rejected if accept_rejects else 0
        summary["entity_order"] = list(dataset.entity_order)
        write_json(out / SUMMARY, summary)
        outputs = [
            run.output_record(w.path, rows=w.count, sha256=w.sha256) for w in writers.values()
        ] + [run.output_record(out / SUMMARY)]
        run.succeed(
            "transform",
            inputs=[run.input_record(vdir / "valid_rows.jsonl", stage="validate")],
            outputs=outputs,
            counts=summary["counts"],
        )
    return summary

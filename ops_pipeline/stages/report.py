"""report: summarise a run for people (terminal, Markdown) and machines (JSON), from one dict.

The report never carries staged values: findings show masked or scrubbed values only, rejected
rows appear as row numbers and finding codes.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
import time
from collections.abc import Iterable

from ..datasets.registry import get_dataset
from ..errors import PipelineError
from ..findings import CODES
from ..printable import printable_data
from ..redact import scrub_text
from ..rundir import FAILED, STAGES, SUCCEEDED, RunDir, read_json, read_jsonl, write_json, atomic_write
from . import exclusive

FIRST_CELLS = 5
MAX_REJECTED = 50
FORMATS = ("text", "json", "md", "html")
#: The console width when the text report goes to a file or pipe: tables as wide as they need.
_UNWRAPPED = 10_000


def _seconds(info: dict) -> float | None:
    try:
        start = dt.datetime.fromisoformat(info["started_at"].replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(info["finished_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError):
        return None
    return round((end - start).total_seconds(), 3)


def build_report(run: RunDir) -> dict:
    """The report as data. Its keys are documented in the README and stable."""
    run.reload()
    manifest = run.manifest
    stages = {}
    for name in STAGES:
        info = manifest["stages"][name]
        entry = {"status": info["status"], "seconds": _seconds(info)}
        if info.get("error"):
            entry["error"] = info["error"]
        if info["status"] == "running" and name != "report":
            entry["status"] = "interrupted"
        stages[name] = entry

    report: dict = {
        "run_id": run.run_id,
        "status": "incomplete",
        "dataset": run.dataset,
        "tool_version": manifest.get("version"),
        "source": {k: manifest["source"].get(k) for k in ("name", "uri", "sha256", "size") if manifest["source"].get(k)},
        "stages": stages,
        "rows": {"read": 0, "valid": 0, "rejected": 0, "skipped": 0},
        "findings": {},
        "findings_detail": {},
        "rejected_rows": [],
        "skipped": {},
        "extra_columns": [],
        "entities": {},
        "not_loaded": {},
        "unresolved": {},
        "history": {},
        "writeback": None,
        "cans_without_portfolio": [],
        "questions": [],
        "database": None,
        "load": None,
        "plan": None,
        "money": None,
        "outputs": {},
        "run_dir": str(run.path),
    }

    vdir = run.path / "validate"
    if (vdir / "summary.json").exists() and stages["validate"]["status"] in (SUCCEEDED, FAILED, "stale"):
        summary = read_json(vdir / "summary.json")
        report["rows"] = summary["rows"]
        report["findings"] = dict(sorted(summary["findings"].items()))
        report["extra_columns"] = summary.get("extra_columns", [])
        report["sheet"] = summary.get("sheet")
        report["reader"] = summary.get("reader")
        report["findings_detail"] = _findings_detail(read_jsonl(vdir / "findings.jsonl"), _codes(run.dataset))
        report["rejected_rows"] = _rejected(vdir / "rejected.jsonl")
        report["skipped"] = _skipped(vdir / "skipped.jsonl")
        report["outputs"]["validate"] = str(vdir)

    tdir = run.path / "transform"
    if (tdir / "summary.json").exists() and stages["transform"]["status"] in (SUCCEEDED, "stale"):
        summary = read_json(tdir / "summary.json")
        unmapped = summary.get("cans_without_portfolio", [])  # a dataset without CANs has none
        report["cans_without_portfolio"] = sorted(c["number"] for c in unmapped)
        report["cans_without_portfolio_detail"] = unmapped
        report["questions"] = summary.get("questions", [])
        report["transformed"] = summary["counts"]
        report["outputs"]["transform"] = str(tdir)

    ldir = run.path / "load"
    refused: set[int] = set()  # rows of the load's error findings
    if (ldir / "result.json").exists() and stages["load"]["status"] == SUCCEEDED:
        result = read_json(ldir / "result.json")
        report["entities"] = result["entities"]
        report["database"] = result["database"]
        report["load"] = {"seconds": result["seconds"]}
        report["outputs"]["load"] = str(ldir)
        # What OPS could not take (a CAN without a portfolio, a link to a record OPS lacks) is
        # found by the load: its findings join validate's, by code.
        if (ldir / "findings.jsonl").exists():
            # One pass over the load's findings (one per line loaded without its CAN: 40,000 in
            # the benchmark's load): their detail, the CANs still without a portfolio, and the
            # rows the load refused (their money was not loaded).
            pending: set = set()

            def noted(findings):
                for finding in findings:
                    if finding["code"] == "can-without-portfolio":
                        pending.add(finding.get("value"))
                    if finding.get("severity") == "error" and finding.get("row"):
                        refused.add(finding["row"])
                    yield finding

            for code, entry in _findings_detail(noted(read_jsonl(ldir / "findings.jsonl")),
                                                _codes(run.dataset)).items():
                report["findings"][code] = report["findings"].get(code, 0) + entry["count"]
                report["findings_detail"].setdefault(code, entry)
            report["findings"] = dict(sorted(report["findings"].items()))
            report["findings_detail"] = dict(sorted(report["findings_detail"].items()))
            # Once loaded, the CANs needing a decision are those OPS did not have and could not
            # take; a CAN OPS already holds has its portfolio there.
            report["cans_without_portfolio"] = sorted(pending)
            report["cans_without_portfolio_detail"] = [
                c for c in report.get("cans_without_portfolio_detail", []) if c["number"] in pending]
        report["not_loaded"] = result.get("not_loaded", {})
        # References to records OPS does not have, counted by the entity they point to.
        report["unresolved"] = result.get("unresolved") or {}
        # What OPS holds that the file disagrees with, found by the load (never overwritten).
        report["questions"] = report["questions"] + result.get("questions", [])
        report["history"] = result.get("history") or {}
        report["writeback"] = _writeback(run, result)
    report["plan"] = _plan(run, ldir / "plan.json")
    report["money"] = _money(run, report, loaded=stages["load"]["status"] == SUCCEEDED, refused=refused)
    if report["plan"]:
        report["outputs"]["load"] = str(ldir)

    report["status"] = _status(report, stages, manifest)
    failed = [name for name in STAGES if stages[name]["status"] == FAILED]
    if failed:
        report["error"] = {"stage": failed[0], **stages[failed[0]]["error"]}
    report["outputs"]["report"] = str(run.path / "report")
    # File, sheet, header and cell text quoted anywhere in the report (questions, errors...) is
    # shown with its control characters escaped, in every format and in report.json.
    return printable_data(report)


def _money(run: RunDir, report: dict, *, loaded: bool, refused: set[int]) -> dict | None:
    """The run's money (ops_pipeline.money); a totals row that does not match joins the findings.
    ``refused``: the rows whose lines the load refused (not loaded, so not in the loaded money)."""
    from ..money import mismatch_finding, money_summary

    try:
        dataset = get_dataset(run.dataset)
    except PipelineError:
        return None  # an old run of a dataset no longer installed: no money to show
    if report["stages"]["validate"]["status"] not in (SUCCEEDED, FAILED, "stale"):
        return None
    money = money_summary(run, dataset, loaded=loaded, refused_rows=refused if loaded else set())
    if money is None:
        return None
    summary = read_json(run.path / "validate" / "summary.json")
    column = (summary.get("columns") or {}).get(money["field"])
    finding = mismatch_finding(money["reconciliation"], dataset.codes(), summary.get("sheet"), column)
    if finding:
        code = finding["code"]
        report["findings"][code] = report["findings"].get(code, 0) + 1
        report["findings_detail"][code] = {
            "severity": finding["severity"], "meaning": dataset.codes()[code][1], "count": 1,
            "first": [{k: finding[k] for k in ("cell", "message", "value") if k in finding}]}
        report["findings"] = dict(sorted(report["findings"].items()))
        report["findings_detail"] = dict(sorted(report["findings_detail"].items()))
    return money


def _writeback(run: RunDir, result: dict) -> dict | None:
    """How to get the submitted workbook back with the ids OPS gave its new lines (when it has some,
    and the file is a workbook the write-back writes into: not a sheet saved as text)."""
    from ..writeback import WRITES_INTO

    target = getattr(get_dataset(run.dataset), "writes_back", None)
    created = (result.get("entities") or {}).get(target[0], {}).get("inserted", 0) if target else 0
    if not created or not str(run.manifest["source"].get("name", "")).lower().endswith(WRITES_INTO):
        return None
    return {"created": created, "command": f"ops-pipeline writeback {run.path} -o WORKBOOK-with-ids.xlsx"}


def _status(report: dict, stages: dict, manifest: dict) -> str:
    if any(s["status"] == FAILED for s in stages.values()):
        return "failed"
    if stages["load"]["status"] == SUCCEEDED:
        return "succeeded"
    if report["plan"]:
        return "dry-run"
    if stages["validate"]["status"] == SUCCEEDED and manifest["stages"]["validate"].get("outcome") == "invalid":
        return "invalid"
    if any(s["status"] == "interrupted" for s in stages.values()):
        return "interrupted"
    return "incomplete"


#: How a dry run's counts read: what a load would do.
PLAN_COUNTS = {"inserted": "would_insert", "updated": "would_update", "unchanged": "would_leave_unchanged"}


def _plan(run: RunDir, path) -> dict | None:
    """The latest dry run (load/plan.json) while it still describes what a load would do: made
    from the transform outputs that stand now, and not older than the real load (if any)."""
    transform = run.stage_info("transform")
    if not path.exists() or transform["status"] != SUCCEEDED:
        return None
    plan = read_json(path)
    current = [{"path": o["path"], "sha256": o["sha256"]} for o in transform.get("outputs", [])]
    if plan.get("inputs") != current:
        return None
    load = run.stage_info("load")
    if load["status"] == SUCCEEDED and load.get("finished_at", "") > plan.get("planned_at", ""):
        return None
    return {
        "planned_at": plan.get("planned_at"),
        "seconds": plan["seconds"],
        "database": plan["database"],
        "entities": {kind: {PLAN_COUNTS[k]: n for k, n in counts.items() if k in PLAN_COUNTS}
                     for kind, counts in plan["entities"].items()},
    }


def _codes(dataset: str) -> dict:
    """The finding codes of the run's dataset and its layouts; the generic ones if it is no longer
    installed (the report of an old run still shows)."""
    try:
        found = get_dataset(dataset)
        codes = dict(found.codes())
        for name in found.layouts:
            codes.update(get_dataset(name).codes())
        return codes
    except PipelineError:
        return CODES


def _findings_detail(findings: Iterable[dict], codes: dict) -> dict:
    detail: dict = {}
    for finding in findings:
        entry = detail.setdefault(finding["code"], {
            "severity": finding.get("severity"),
            "meaning": codes.get(finding["code"], ("", ""))[1],
            "count": 0,
            "first": [],
        })
        entry["count"] += 1
        if len(entry["first"]) < FIRST_CELLS:
            entry["first"].append({k: finding[k] for k in ("cell", "message", "value") if k in finding})
    return dict(sorted(detail.items()))


def _rejected(path) -> list:
    rows = []
    for record in read_jsonl(path):
        rows.append({"row": record["row"], "codes": record["codes"]})
        if len(rows) >= MAX_REJECTED:
            break
    return rows


def _skipped(path) -> dict:
    reasons: dict = {}
    for record in read_jsonl(path):
        entry = reasons.setdefault(record["reason"], {"count": 0, "first_rows": []})
        entry["count"] += 1
        if len(entry["first_rows"]) < FIRST_CELLS:
            entry["first_rows"].append(record["row"])
    return reasons


@exclusive("report")
def report(run: RunDir) -> dict:
    """Build the report, write report/report.json, report.md and report.html, record the stage."""
    started = time.perf_counter()
    run.begin("report")
    data = build_report(run)
    data["stages"]["report"] = {"status": SUCCEEDED, "seconds": round(time.perf_counter() - started, 3)}
    out = run.stage_dir("report")
    write_json(out / "report.json", data)
    with atomic_write(out / "report.md") as handle:
        handle.write(render_markdown(data))
    from ..writers.html_report import render_html

    with atomic_write(out / "report.html") as handle:
        handle.write(render_html(data))
    names = ("report.json", "report.md", "report.html")
    run.succeed("report", outputs=[run.output_record(out / name) for name in names],
                counts={"status": data["status"]})
    return data


# -- rendering ---------------------------------------------------------------------------------


def render(data: dict, fmt: str, width: int | None = None) -> str:
    """The report in ``fmt``; ``width`` is the terminal's for text (None: lines are not wrapped)."""
    data = printable_data(data)
    if fmt == "json":
        return json.dumps(data, indent=2, default=str)
    if fmt == "md":
        return render_markdown(data)
    if fmt == "html":
        from ..writers.html_report import render_html

        return render_html(data)
    return render_text(data, width)


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~&])")


def _md(text: object) -> str:
    """File text as literal Markdown: no emphasis, link, image, HTML or table cell break."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def _code(text: object) -> str:
    """File text as a Markdown code span (a cell reference, a path), also inside a table."""
    text = str(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _entity_rows(data: dict):
    for kind, counts in data["entities"].items():
        left = [f"{counts[k]} {k}" for k in ("skipped", "rejected") if counts.get(k)]
        unchanged = str(counts["unchanged"]) + (f" ({', '.join(left)})" if left else "")
        yield kind, counts["inserted"], counts["updated"], unchanged


def _not_loaded_lines(data: dict) -> list[str]:
    return [f"{column}: {why}" for column, why in data.get("not_loaded", {}).items()]


def _history_line(data: dict) -> str | None:
    history = data.get("history") or {}
    if not history:
        return None
    return "History recorded in OPS: " + ", ".join(f"{n} {table}" for table, n in history.items())


def _plan_rows(plan: dict):
    for kind, counts in plan["entities"].items():
        yield kind, *(counts[key] for key in PLAN_COUNTS.values())


PLAN_HEADINGS = ("entity", "would insert", "would update", "would leave unchanged")


def _plan_title(data: dict) -> str:
    loaded = "" if data["entities"] else "Nothing was loaded. "
    return (f"{loaded}Dry run at {data['plan']['planned_at']} (rolled back, nothing written): "
            "what a load would do")


def _where(database: dict | None, seconds: float, rounded: bool) -> str:
    db = database or {}
    shown = f"{seconds:.2f}" if rounded else seconds
    return f"Database: {db.get('dialect')} {db.get('host') or ''} {db.get('database') or ''} in {shown} s"


def render_markdown(data: dict) -> str:
    data = printable_data(data)
    lines = [f"# ops-pipeline run {_md(data['run_id'])}", "", f"**Status:** {data['status']}  ",
             f"**Dataset:** {_md(data['dataset'])}  ", f"**Source:** {_md(data['source'].get('name', ''))} "
             f"(sha256 `{data['source'].get('sha256', '')[:16]}…`)  "]
    if data.get("sheet"):
        lines.append(f"**Sheet:** {_md(scrub_text(str(data['sheet'])))}")
    lines.append("")
    if data.get("error"):
        lines += [f"**Error ({data['error']['stage']}):** {_md(scrub_text(data['error'].get('message', '')))}", ""]
    lines += ["## Stages", "", "| stage | status | seconds |", "|---|---|---|"]
    for name, stage in data["stages"].items():
        lines.append(f"| {name} | {stage['status']} | {stage['seconds'] if stage['seconds'] is not None else ''} |")
    rows = data["rows"]
    lines += ["", "## Rows", "", f"read {rows['read']} = valid {rows['valid']} + rejected {rows['rejected']} "
              f"+ skipped {rows['skipped']}", ""]
    lines += _money_markdown(data.get("money"))
    if data["findings_detail"]:
        lines += ["## Findings", "", "| code | severity | rows | meaning |", "|---|---|---|---|"]
        for code, entry in data["findings_detail"].items():
            lines.append(f"| {code} | {entry['severity']} | {data['findings'].get(code, entry['count'])} | "
                         f"{_md(entry.get('meaning') or '')} |")
        lines.append("")
        for code, entry in data["findings_detail"].items():
            lines += [f"### {code}", ""]
            lines += [f"- {_code(f.get('cell', ''))}: {_md(f.get('message', ''))}"
                      + (f" (value: {_code(f['value'])})" if f.get("value") not in (None, "") else "")
                      for f in entry["first"]]
            more = data["findings"].get(code, entry["count"]) - len(entry["first"])
            if more > 0:
                lines.append(f"- … and {more} more")
            lines.append("")
    if data["skipped"]:
        lines += ["## Skipped rows", ""]
        for reason, entry in data["skipped"].items():
            lines.append(f"- {_md(reason)}: {entry['count']} (rows {', '.join(map(str, entry['first_rows']))})")
        lines.append("")
    if data["entities"]:
        lines += ["## Entities", "", "| entity | inserted | updated | unchanged |", "|---|---|---|---|"]
        for kind, ins, upd, unc in _entity_rows(data):
            lines.append(f"| {kind} | {ins} | {upd} | {unc} |")
        lines += ["", _where(data.get("database"), data["load"]["seconds"], rounded=False), ""]
    if data.get("plan"):
        lines += ["## Plan", "", _plan_title(data), "", "| " + " | ".join(PLAN_HEADINGS) + " |", "|---|---|---|---|"]
        for kind, ins, upd, unc in _plan_rows(data["plan"]):
            lines.append(f"| {kind} | {ins} | {upd} | {unc} |")
        lines += ["", _where(data["plan"]["database"], data["plan"]["seconds"], rounded=False), ""]
    if _history_line(data):
        lines += [_history_line(data), ""]
    if data.get("not_loaded"):
        lines += ["## Read but not loaded", ""] + [f"- {_md(line)}" for line in _not_loaded_lines(data)] + [""]
    if data.get("unresolved"):
        lines += ["## References to records OPS does not have", ""]
        lines += [f"- {_md(what)}: {n['references']} reference{'s' if n['references'] != 1 else ''} to "
                  f"{n['records']} record{'s' if n['records'] != 1 else ''}" for what, n in data["unresolved"].items()]
        lines.append("")
    if data["cans_without_portfolio"]:
        lines += ["## CANs needing a portfolio decision", ""]
        lines += [f"- {_md(c['number'])} ({_md(c['description'] or 'no description')})"
                  for c in data.get("cans_without_portfolio_detail", [])]
        lines.append("")
    if data["questions"]:
        lines += ["## Open questions", ""] + [f"- {_md(q['question'])}" for q in data["questions"]] + [""]
    if data["extra_columns"]:
        lines += ["## Columns ignored", "", ", ".join(_md(c) for c in data["extra_columns"]), ""]
    if data.get("writeback"):
        lines += ["## New ids", "", _writeback_line(data["writeback"]), ""]
    lines += [f"Run directory: {_code(data['run_dir'])}", ""]
    return "\n".join(lines)


def render_text(data: dict, width: int | None = None) -> str:
    """The terminal report: rich tables, rendered to a string, without colour.

    ``width`` is the terminal's: tables fit it and long lines wrap at it. Without one (a file, a
    pipe) nothing is wrapped. Rich reads no markup or emoji codes here: every string may come
    from the file (``[/x]`` in a header is text).
    """
    from rich.console import Console
    from rich.table import Table

    data = printable_data(data)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or _UNWRAPPED, force_terminal=False, color_system=None,
                      highlight=False, markup=False, emoji=False)
    print_line = console.print
    if not width:
        print_line = functools.partial(console.print, soft_wrap=True)
    print_line(f"Run {data['run_id']}  status: {data['status'].upper()}  dataset: {data['dataset']}")
    print_line(f"Source: {data['source'].get('name', '')}  sha256 {data['source'].get('sha256', '')[:16]}…")
    if data.get("sheet"):
        print_line(f"Sheet: {scrub_text(str(data['sheet']))}")
    if data.get("error"):
        print_line(f"Error in {data['error']['stage']}: {scrub_text(data['error'].get('message', ''))}")
        if data["error"].get("hint"):
            print_line(f"Hint: {data['error']['hint']}")
    stages = Table(title="Stages", title_justify="left")
    for col in ("stage", "status", "seconds"):
        stages.add_column(col)
    for name, stage in data["stages"].items():
        stages.add_row(name, stage["status"], "" if stage["seconds"] is None else f"{stage['seconds']:.2f}")
    console.print(stages)
    rows = data["rows"]
    print_line(f"Rows: read {rows['read']} = valid {rows['valid']} + rejected {rows['rejected']} "
               f"+ skipped {rows['skipped']}")
    _money_text(data.get("money"), console, print_line)
    if data["findings_detail"]:
        table = Table(title="Findings (rows per code)", title_justify="left")
        for col in ("code", "severity", "rows", "meaning"):
            table.add_column(col)
        for code, entry in data["findings_detail"].items():
            table.add_row(code, entry["severity"], str(data["findings"].get(code, entry["count"])),
                          entry.get("meaning") or "")
        console.print(table)
        for code, entry in data["findings_detail"].items():
            print_line(f"{code}:")
            for f in entry["first"]:
                value = f" (value: {f['value']})" if f.get("value") not in (None, "") else ""
                print_line(f"  {f.get('cell', '')}: {f.get('message', '')}{value}")
            more = data["findings"].get(code, entry["count"]) - len(entry["first"])
            if more > 0:
                print_line(f"  … and {more} more")
    if data["skipped"]:
        print_line("Skipped: " + "; ".join(f"{r} {e['count']}" for r, e in data["skipped"].items()))
    if data["entities"]:
        table = Table(title="Entities", title_justify="left")
        for col in ("entity", "inserted", "updated", "unchanged"):
            table.add_column(col)
        for kind, ins, upd, unc in _entity_rows(data):
            table.add_row(kind, str(ins), str(upd), str(unc))
        console.print(table)
        print_line(_where(data.get("database"), data["load"]["seconds"], rounded=True))
    if data.get("plan"):
        print_line(_plan_title(data))
        table = Table(title="Plan", title_justify="left")
        for col in PLAN_HEADINGS:
            table.add_column(col)
        for kind, ins, upd, unc in _plan_rows(data["plan"]):
            table.add_row(kind, str(ins), str(upd), str(unc))
        console.print(table)
        print_line(_where(data["plan"]["database"], data["plan"]["seconds"], rounded=True))
    if _history_line(data):
        print_line(_history_line(data))
    for line in _not_loaded_lines(data):
        print_line(f"Read but not loaded: {line}")
    if data["cans_without_portfolio"]:
        print_line("CANs needing a portfolio decision: " + ", ".join(data["cans_without_portfolio"]))
    for question in data["questions"]:
        print_line(f"Question: {question['question']}")
    if data["extra_columns"]:
        print_line("Columns ignored: " + ", ".join(data["extra_columns"]))
    if data.get("writeback"):
        print_line(_writeback_line(data["writeback"]))
    print_line(f"Run directory: {data['run_dir']}")
    return buffer.getvalue()


def money_lines(money: dict) -> list[str]:
    """The totals in words, shared by every format."""
    from ..money import dollars

    loaded = dollars(money["loaded"]) if money["loaded"] is not None else "nothing (not loaded)"
    lines = [f"Amount read {dollars(money['read'])} = valid {dollars(money['valid'])} + rejected "
             f"{dollars(money['rejected'])} + skipped {dollars(money['skipped'])}; loaded {loaded}"]
    if money["unreadable_rejected"]:
        count = money["unreadable_rejected"]
        lines.append(f"{count} rejected row{'s' if count != 1 else ''} with an amount that cannot be read "
                     "(not counted)")
    reconciliation = money.get("reconciliation")
    if reconciliation:
        labels = {"matches": "matches", "mismatch": "DOES NOT MATCH", "no-value": "not checked"}
        label = labels[reconciliation["status"]]
        lines.append(f"Totals row ({reconciliation['cell'] or 'row ' + str(reconciliation['row'])}): {label}: "
                     f"{reconciliation['message']}")
    else:
        lines.append("Totals row: the sheet has none; nothing to reconcile with")
    return lines


MONEY_GROUPS = (("by_status", "status"), ("by_fiscal_year", "fiscal year"))


def _money_rows(money: dict, key: str):
    from ..money import dollars

    for name, entry in money[key].items():
        loaded = dollars(entry["loaded"]) if money["loaded"] is not None else ""
        yield name, str(entry["lines"]), dollars(entry["valid"]), loaded


def _money_text(money: dict | None, console, print_line) -> None:
    from rich.table import Table

    if not money:
        return
    for line in money_lines(money):
        print_line(line)
    for key, label in MONEY_GROUPS:
        if not money[key]:
            continue
        table = Table(title=f"Amounts by {label}", title_justify="left")
        for col in (label, "lines", "valid", "loaded"):
            table.add_column(col, justify="left" if col == label else "right")
        for row in _money_rows(money, key):
            table.add_row(*row)
        console.print(table)


def _money_markdown(money: dict | None) -> list[str]:
    if not money:
        return []
    lines = ["## Money", ""] + [f"{_md(line)}  " for line in money_lines(money)] + [""]
    for key, label in MONEY_GROUPS:
        if not money[key]:
            continue
        lines += [f"### Amounts by {label}", "", f"| {label} | lines | valid | loaded |", "|---|---:|---:|---:|"]
        lines += [f"| {_md(name)} | {n} | {valid} | {loaded} |" for name, n, valid, loaded in _money_rows(money, key)]
        lines.append("")
    return lines


def _writeback_line(writeback: dict) -> str:
    count = writeback["created"]
    return (f"{count} new line{'s' if count != 1 else ''} got {'their ids' if count != 1 else 'its id'} in OPS; "
            f"a copy of the workbook with them filled in: {writeback['command']}")

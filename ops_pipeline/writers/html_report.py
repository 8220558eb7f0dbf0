"""The report as one self-contained HTML page, for budget analysts (``report --format html`` and
``report/report.html``).

Self-contained: no script, no font, no image or style sheet from anywhere; a Content-Security-Policy
in the page says so to the browser too (``default-src 'none'``), so a page opened from a mail or a
share cannot reach the network. Accessible (Section 508 / WCAG 2.1 AA): ``lang``, one ``h1`` and
headings in order, tables with a caption and ``th scope``, text contrast of at least 7:1, every
status and severity written in words (colour only repeats them), the chart an ``img`` with a title
and description and the same figures in a table beside it.

Every text from the file (sheet, cells, questions, messages) is HTML-escaped, after the same
masking as the other formats (:func:`ops_pipeline.redact.scrub_text`); finding values are already
masked where the column holds PII.
"""
from __future__ import annotations

import html

from ..money import dollars
from ..redact import scrub_text

STATUS_WORDS = {
    "succeeded": ("Loaded", "ok"),
    "dry-run": ("Dry run: nothing written", "info"),
    "invalid": ("Not loaded: the file has rows to fix", "bad"),
    "failed": ("Failed", "bad"),
    "interrupted": ("Interrupted", "bad"),
    "incomplete": ("Incomplete", "info"),
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1b1b1b;background:#fff;
margin:0 auto;max-width:70rem;padding:1rem 1.5rem;line-height:1.5}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin-top:2rem;border-bottom:2px solid #565c65}
h3{font-size:1.1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}caption{text-align:left;font-weight:bold;padding:.25rem 0}
th,td{border:1px solid #71767a;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:.25rem .75rem;border:2px solid;border-radius:.25rem;font-weight:bold}
.ok{color:#00400f;border-color:#00400f;background:#ecf3ec}.bad{color:#8b0a03;border-color:#8b0a03;background:#f4e3db}
.info{color:#1b1b1b;border-color:#565c65;background:#f0f0f0}
code{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f0f0f0;padding:0 .2rem;word-break:break-all}
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}dt{font-weight:bold}dd{margin:0}
.chart text{font-size:13px;fill:#1b1b1b}.muted{color:#3d4551}
"""


def _e(value: object) -> str:
    """File text as HTML text: masked as the other formats mask it, then escaped."""
    return html.escape(scrub_text("" if value is None else str(value)), quote=True)


def _table(caption: str, headings: list[str], rows: list[list], numeric: set[int] = frozenset()) -> list[str]:
    out = ["<table>", f"<caption>{_e(caption)}</caption>", "<thead><tr>"]
    out += [f'<th scope="col">{_e(h)}</th>' for h in headings]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f'<th scope="row">{_e(row[0])}</th>']
        cells += [f'<td class="num">{_e(v)}</td>' if i + 1 in numeric else f"<td>{_e(v)}</td>"
                  for i, v in enumerate(row[1:])]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def _chart(money: dict) -> list[str]:
    """A horizontal bar chart of the amounts by fiscal year (else by status), inline SVG."""
    key, label = ("by_fiscal_year", "fiscal year") if money.get("by_fiscal_year") else ("by_status", "status")
    groups = money.get(key) or {}
    if not groups:
        return []
    measure = "loaded" if money.get("loaded") is not None else "valid"
    values = {name: float(entry[measure]) for name, entry in groups.items()}
    top = max(values.values()) or 1.0
    bar_height, gap, left, width = 22, 10, 130, 420
    height = len(values) * (bar_height + gap) + gap
    summary = "; ".join(f"{name}: {dollars(groups[name][measure])}" for name in values)
    out = [f'<figure><svg class="chart" role="img" aria-labelledby="chart-title chart-desc" '
           f'width="{left + width + 150}" height="{height}" viewBox="0 0 {left + width + 150} {height}" '
           f'xmlns="http://www.w3.org/2000/svg">',
           f'<title id="chart-title">Amount {measure} by {_e(label)}</title>',
           f'<desc id="chart-desc">{_e(summary)}</desc>']
    for index, (name, value) in enumerate(values.items()):
        y = gap + index * (bar_height + gap)
        length = max(1.0, width * max(value, 0.0) / top)
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{_e(name)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="#005ea2"/>')
        out.append(f'<text x="{left + length + 6:.1f}" y="{y + 16}">{_e(dollars(groups[name][measure]))}</text>')
    out.append("</svg>")
    out.append(f"<figcaption>Amount {measure} by {_e(label)}; the same figures are in the table below.</figcaption>"
               "</figure>")
    return out


def render_html(data: dict) -> str:
    """The report (as :func:`ops_pipeline.stages.report.build_report` gives it) as an HTML page."""
    from ..stages.report import MONEY_GROUPS, _entity_rows, _money_rows, money_lines

    status = data["status"]
    words, tone = STATUS_WORDS.get(status, (status, "info"))
    source = data.get("source") or {}
    rows = data["rows"]
    out = ['<!DOCTYPE html>', '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>ops-pipeline run {_e(data['run_id'])}: {_e(words)}</title>",
           f"<style>{_STYLE}</style>", "</head>", "<body>", "<main>",
           f"<h1>ops-pipeline run {_e(data['run_id'])}</h1>",
           f'<p><span class="status {tone}">Outcome: {_e(words)}</span> <span class="muted">(status '
           f"{_e(status)})</span></p>"]
    if data.get("error"):
        error = data["error"]
        out.append(f'<p><strong>Error in {_e(error.get("stage"))}:</strong> {_e(error.get("message", ""))}'
                   + (f" <br><strong>What to do:</strong> {_e(error['hint'])}" if error.get("hint") else "") + "</p>")
    out += ["<h2>Outcome</h2>", "<dl>",
            f"<dt>Dataset</dt><dd>{_e(data['dataset'])}</dd>",
            f"<dt>Source</dt><dd>{_e(source.get('uri') or source.get('name', ''))}</dd>",
            f"<dt>sha256</dt><dd><code>{_e(source.get('sha256', ''))}</code></dd>"]
    if data.get("sheet"):
        out.append(f"<dt>Sheet</dt><dd>{_e(data['sheet'])}</dd>")
    out += [f"<dt>Rows</dt><dd>read {rows['read']} = valid {rows['valid']} + rejected {rows['rejected']} + "
            f"skipped {rows['skipped']}</dd>", "</dl>"]

    money = data.get("money")
    if money:
        out += ["<h2>Money and reconciliation</h2>"] + [f"<p>{_e(line)}</p>" for line in money_lines(money)]
        table = [["read", dollars(money["read"])], ["valid", dollars(money["valid"])],
                 ["loaded", dollars(money["loaded"]) if money["loaded"] is not None else "not loaded"],
                 ["rejected", dollars(money["rejected"])], ["skipped", dollars(money["skipped"])]]
        reconciliation = money.get("reconciliation") or {}
        if reconciliation.get("workbook_total") is not None:
            table.append(["workbook's totals row", dollars(reconciliation["workbook_total"])])
            table.append(["difference", dollars(reconciliation["difference"])])
        out += _table("Totals", ["amount", "dollars"], table, numeric={1})
        out += _chart(money)
        for key, label in MONEY_GROUPS:
            if money.get(key):
                out += _table(f"Amounts by {label}", [label, "lines", "valid", "loaded"],
                              [list(r) for r in _money_rows(money, key)], numeric={1, 2, 3})

    out.append("<h2>Findings</h2>")
    if not data["findings_detail"]:
        out.append("<p>None.</p>")
    else:
        out += _table("Findings by code", ["code", "severity", "rows", "meaning"],
                      [[code, entry["severity"], data["findings"].get(code, entry["count"]), entry.get("meaning") or ""]
                       for code, entry in data["findings_detail"].items()], numeric={2})
        for code, entry in data["findings_detail"].items():
            count = data["findings"].get(code, entry["count"])
            out.append(f"<h3>{_e(code)} ({_e(entry['severity'])}, {count} row{'s' if count != 1 else ''})</h3>")
            out += _table(f"First cells of {code}", ["cell", "message", "value"],
                          [[f.get("cell", ""), f.get("message", ""), f.get("value", "")] for f in entry["first"]])
            if count > len(entry["first"]):
                out.append(f"<p>… and {count - len(entry['first'])} more: <code>ops-pipeline rejects RUN "
                           "--format xlsx --annotate</code> lists every one.</p>")
    if data["skipped"]:
        out += _table("Skipped rows", ["reason", "rows", "first rows"],
                      [[reason, e["count"], ", ".join(map(str, e["first_rows"]))]
                       for reason, e in data["skipped"].items()])

    out.append("<h2>Open questions</h2>")
    questions = [q["question"] for q in data["questions"]]
    questions += [f"CAN {c['number']} ({c.get('description') or 'no description'}) needs a portfolio decision"
                  for c in data.get("cans_without_portfolio_detail", [])]
    out += ["<ul>"] + [f"<li>{_e(q)}</li>" for q in questions] + ["</ul>"] if questions else ["<p>None.</p>"]

    out.append("<h2>Entities changed</h2>")
    if data["entities"]:
        out += _table("Records in OPS", ["entity", "inserted", "updated", "unchanged"],
                      [list(r) for r in _entity_rows(data)], numeric={1, 2})
    elif data.get("plan"):
        out.append("<p>Dry run: nothing was written.</p>")
        out += _table("What a load would do", ["entity", "would insert", "would update", "would leave unchanged"],
                      [[kind, *counts.values()] for kind, counts in data["plan"]["entities"].items()],
                      numeric={1, 2, 3})
    else:
        out.append("<p>Nothing was loaded.</p>")

    out.append("<h2>Stages</h2>")
    out += _table("Stages of the run", ["stage", "status", "seconds"],
                  [[name, s["status"], "" if s["seconds"] is None else f"{s['seconds']:.2f}"]
                   for name, s in data["stages"].items()], numeric={2})
    out += [f"<p>Run directory: <code>{_e(data['run_dir'])}</code></p>", "</main>", "</body>", "</html>", ""]
    return "\n".join(out)

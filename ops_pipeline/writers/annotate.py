"""A copy of a submitted workbook with its problem cells highlighted and commented, and a first
sheet listing every finding with a link to its cell: the rejects in the sender's own file.

Like the write-back (:mod:`ops_pipeline.writers.cells`, which says why not openpyxl), the package
is edited, not rebuilt: every part is copied byte for byte except

* ``xl/styles.xml``: one solid fill added, and for each style a problem cell uses, a copy of that
  style with the fill (the cell keeps its number format, font, borders, alignment);
* the table's worksheet: the ``s`` attribute of each problem cell (an empty problem cell gets a
  ``<c>`` of its own), and a ``<legacyDrawing>`` pointing to the comments' drawing;
* the worksheet's relationships, a new comments part and its VML drawing (how Excel keeps notes);
* ``xl/workbook.xml`` and its relationships: the findings sheet inserted first; sheet-scoped
  defined names and the active tab renumbered so they still point to the same sheets;
* ``[Content_Types].xml``: the new parts.

A sheet that already has comments keeps them: the findings are then in the findings sheet only
(said in the result). Text added anywhere goes through :func:`ops_pipeline.export.neutralise`
(formula-like text gets an apostrophe) and is XML-escaped; inline strings are never formulas.
"""
from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from ..errors import UnreadableFile
from ..export import neutralise
from .cells import _CELL, _CELL_REF, _ROW_NUMBER, _ROW_START, _STYLE, column_index, sheet_part

FILL_RGB = "FFFFFF00"
SHEET_NAME = "Findings"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_WORKSHEET_REL = f"{_REL_NS}/worksheet"
_COMMENTS_REL = f"{_REL_NS}/comments"
_VML_REL = f"{_REL_NS}/vmlDrawing"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#: Worksheet elements that come after <legacyDrawing> (ECMA-376's order): it goes before the first.
_AFTER_LEGACY = (b"<legacyDrawingHF", b"<drawingHF", b"<picture", b"<oleObjects", b"<controls",
                 b"<webPublishItems", b"<tableParts", b"<extLst", b"</worksheet")
_XF = re.compile(rb"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.DOTALL)


def _text(value: object) -> str:
    """Added text: formula-like text neutralised, characters XML 1.0 cannot hold replaced."""
    text = str(neutralise("" if value is None else str(value)))
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "?", text)


def annotate(source: Path, handle: IO[bytes], sheet: str, findings: list[dict]) -> dict:
    """Mark the workbook (see :func:`_annotate`); a package laid out in a way this module does not
    edit (namespace prefixes on the package parts, strict OOXML) is refused in one line."""
    try:
        return _annotate(source, handle, sheet, findings)
    except (ValueError, IndexError, KeyError) as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(f"{Path(source).name}: a workbook layout this tool cannot annotate "
                             f"({type(exc).__name__}); export the rejects as .xlsx instead") from None


def _annotate(source: Path, handle: IO[bytes], sheet: str, findings: list[dict]) -> dict:
    """Copy ``source`` to ``handle`` with ``findings`` (dicts with ``sheet``, ``row``, ``column``,
    ``code``, ``severity``, ``message``, ``value``) marked on ``sheet`` and listed first.

    Returns ``{"highlighted", "commented", "listed", "comments_skipped"}``."""
    try:
        book = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise UnreadableFile(f"{Path(source).name} is not an xlsx workbook (not a zip package)") from None
    with book, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as out:
        names = set(book.namelist())
        part = sheet_part(book, sheet)
        if part not in names:
            raise UnreadableFile(f"the workbook names the sheet {sheet!r} but has no part {part}")
        notes: dict[tuple[int, str], list[str]] = {}
        for finding in findings:
            if finding.get("sheet") == sheet and finding.get("row") and finding.get("column"):
                text = f"{finding['code']} ({finding.get('severity')}): {finding.get('message', '')}"
                if finding.get("value") not in (None, ""):
                    text += f" [value: {finding['value']}]"
                notes.setdefault((int(finding["row"]), finding["column"]), []).append(text)
        sheet_xml = book.read(part)
        comments_skipped = b"<legacyDrawing " in sheet_xml or b"<legacyDrawing>" in sheet_xml
        styles, style_map_for = _styles(book.read("xl/styles.xml"))
        sheet_xml, marked = _mark_cells(sheet_xml, notes, style_map_for)
        edited = {"xl/styles.xml": styles(), part: sheet_xml}
        added: dict[str, bytes] = {}
        content_types = book.read("[Content_Types].xml")
        if notes and not comments_skipped:
            number = _free_number(names, "xl/comments{}.xml")
            comments = f"xl/comments{number}.xml"
            vml = f"xl/drawings/vmlDrawing{_free_number(names, 'xl/drawings/vmlDrawing{}.vml')}.vml"
            rels_path = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
            rels = book.read(rels_path) if rels_path in names else (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
                "</Relationships>").encode()
            rels, comments_id = _add_relationship(rels, _COMMENTS_REL, _relative(part, comments))
            rels, vml_id = _add_relationship(rels, _VML_REL, _relative(part, vml))
            (edited if rels_path in names else added)[rels_path] = rels
            edited[part] = _add_legacy_drawing(edited[part], vml_id)
            added[comments] = _comments_xml(notes)
            added[vml] = _vml_xml(notes)
            content_types = _content_type(content_types, override=("/" + comments,
                                          "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"))
            content_types = _content_type(content_types, default=("vml",
                                          "application/vnd.openxmlformats-officedocument.vmlDrawing"))
        findings_part = f"xl/worksheets/sheet{_free_number(names, 'xl/worksheets/sheet{}.xml')}.xml"
        added[findings_part] = _findings_sheet(findings, sheet)
        content_types = _content_type(content_types, override=(
            "/" + findings_part, "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"))
        edited["[Content_Types].xml"] = content_types
        workbook_rels, sheet_rel = _add_relationship(book.read("xl/_rels/workbook.xml.rels"), _WORKSHEET_REL,
                                                     posixpath.relpath(findings_part, "xl"))
        edited["xl/_rels/workbook.xml.rels"] = workbook_rels
        edited["xl/workbook.xml"] = _add_first_sheet(book.read("xl/workbook.xml"), sheet_rel)
        for info in book.infolist():
            data = edited.get(info.filename)
            out.writestr(info, book.read(info.filename) if data is None else data)
        for name, data in added.items():
            out.writestr(name, data)
    return {"highlighted": marked, "commented": 0 if comments_skipped else len(notes),
            "listed": len(findings), "comments_skipped": comments_skipped}


def _free_number(names: set[str], pattern: str) -> int:
    number = 1
    while pattern.format(number) in names:
        number += 1
    return number


def _relative(source_part: str, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(source_part))


# -- styles ----------------------------------------------------------------------------------------

def _styles(data: bytes):
    """(a function giving the edited styles part, a function: style index → highlighted index)."""
    original = data
    xfs = re.search(rb"<cellXfs\b([^>]*)>(.*?)</cellXfs>", data, re.DOTALL)
    existing = _XF.findall(xfs.group(2)) if xfs else []
    if not existing:
        return (lambda: original), None  # no cell formats to extend: comments and the list only
    fills = re.search(rb"<fills\b([^>]*)>(.*?)</fills>", data, re.DOTALL)
    if fills is None:
        # No fills at all: the two every workbook reserves (none, gray125) come first.
        at = min((i for i in (data.find(tag) for tag in (b"<borders", b"<cellStyleXfs", b"<cellXfs")) if i >= 0))
        data = (data[:at] + b'<fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
                b'<patternFill patternType="gray125"/></fill></fills>' + data[at:])
        fills = re.search(rb"<fills\b([^>]*)>(.*?)</fills>", data, re.DOTALL)
        xfs = re.search(rb"<cellXfs\b([^>]*)>(.*?)</cellXfs>", data, re.DOTALL)
    fill_id = len(re.findall(rb"<fill\b", fills.group(2)))
    added: list[bytes] = []
    mapping: dict[int, int] = {}

    def highlighted(style: int) -> int:
        if style not in mapping:
            base = existing[style] if style < len(existing) else existing[0]
            if base.endswith(b"/>") and base.count(b">") == 1:
                head, tail = base[:-2], b"/>"
            else:
                cut = base.index(b">")
                head, tail = base[:cut], base[cut:]
            head = re.sub(rb'\s(?:fillId|applyFill)="[^"]*"', b"", head)
            head += b' fillId="%d" applyFill="1"' % fill_id
            added.append(head + tail)
            mapping[style] = len(existing) + len(added) - 1
        return mapping[style]

    def edited() -> bytes:
        if not added:
            return original
        fill = (b'<fill><patternFill patternType="solid"><fgColor rgb="' + FILL_RGB.encode() +
                b'"/><bgColor indexed="64"/></patternFill></fill>')
        new_fills = b"<fills" + _count(fills.group(1), fill_id + 1) + b">" + fills.group(2) + fill + b"</fills>"
        new_xfs = (b"<cellXfs" + _count(xfs.group(1), len(existing) + len(added)) + b">" + xfs.group(2)
                   + b"".join(added) + b"</cellXfs>")
        first, second = sorted([(fills.start(), fills.end(), new_fills), (xfs.start(), xfs.end(), new_xfs)])
        return data[:first[0]] + first[2] + data[first[1]:second[0]] + second[2] + data[second[1]:]

    return edited, highlighted


def _count(attributes: bytes, count: int) -> bytes:
    if re.search(rb'\scount="\d+"', attributes):
        return re.sub(rb'\scount="\d+"', b' count="%d"' % count, attributes)
    return attributes + b' count="%d"' % count


# -- the worksheet ---------------------------------------------------------------------------------

def _mark_cells(data: bytes, notes: dict, style_for) -> tuple[bytes, int]:
    """The worksheet with the noted cells highlighted, and how many were (a noted row the sheet
    does not have is left out: findings name rows the sheet has)."""
    rows: dict[int, list[str]] = {}
    marked = 0
    for row, column in notes:
        rows.setdefault(row, []).append(column)
    pieces, position, previous = [], 0, 0
    for match in _ROW_START.finditer(data):
        tag_end = data.index(b">", match.end())
        number = _ROW_NUMBER.search(data[match.end():tag_end])
        previous = int(number.group(1)) if number else previous + 1
        if previous not in rows or style_for is None:
            continue
        marked += len(set(rows[previous]))
        if data[tag_end - 1:tag_end] == b"/":  # <row r="7"/>: the cells go in a body of their own
            name = match.group(0)[1:]
            body = _mark_row(b"", previous, rows.pop(previous), style_for)
            pieces += [data[position:tag_end - 1], b">", body, b"</" + name + b">"]
            position = tag_end + 1
            continue
        name = match.group(0)[1:]
        close = data.index(b"</" + name + b">", tag_end)
        pieces += [data[position:tag_end + 1], _mark_row(data[tag_end + 1:close], previous, rows.pop(previous),
                                                         style_for)]
        position = close
    pieces.append(data[position:])
    return b"".join(pieces), marked


def _mark_row(body: bytes, row: int, columns: list[str], style_for) -> bytes:
    for column in sorted(set(columns), key=column_index):
        body = _mark_cell(body, row, column, style_for)
    return body


def _mark_cell(body: bytes, row: int, column: str, style_for) -> bytes:
    at = column_index(column)
    ref = f"{column}{row}".encode()
    prefix = b""
    for match in _CELL.finditer(body):
        prefix, attributes = match.group(1), match.group(2)
        cell = _CELL_REF.search(attributes)
        if cell is None:
            raise UnreadableFile(f"row {row} has a cell without a reference (r=\"\"); cannot mark {ref.decode()}")
        here = column_index(cell.group(1))
        if here < at:
            continue
        if here == at:
            style = _STYLE.search(attributes)
            new_style = style_for(int(style.group(1)) if style else 0)
            if style:
                new_attributes = attributes[:style.start()] + b' s="%d"' % new_style + attributes[style.end():]
            else:
                new_attributes = attributes + b' s="%d"' % new_style
            tag = b"<" + prefix + b"c" + new_attributes + match.group(3) + b">"
            return body[:match.start()] + tag + body[match.end():]
        return body[:match.start()] + _empty_cell(prefix, ref, style_for(0)) + body[match.start():]
    return body + _empty_cell(prefix, ref, style_for(0))


def _empty_cell(prefix: bytes, ref: bytes, style: int) -> bytes:
    return b"<" + prefix + b'c r="' + ref + b'" s="%d"/>' % style


def _r_attribute(data: bytes, rel_id: str) -> str:
    """``r:id="..."`` with the prefix the part's root binds to the relationships namespace (or one
    declared on the element when it binds none)."""
    root = re.search(rb"<(?:[A-Za-z_][\w.-]*:)?(?:worksheet|workbook)\b[^>]*>", data)
    namespace = rb'xmlns:([A-Za-z_][\w.-]*)="' + re.escape(_REL_NS.encode()) + rb'"'
    bound = re.search(namespace, root.group(0)) if root else None
    if bound:
        return f'{bound.group(1).decode()}:id="{rel_id}"'
    return f'xmlns:r="{_REL_NS}" r:id="{rel_id}"'


def _add_legacy_drawing(data: bytes, rel_id: str) -> bytes:
    end = data.find(b"</sheetData>")
    if end < 0:
        end = data.find(b"<sheetData")
    # Before the first element that must follow it; else just before the root's end tag.
    at = min((i for i in (data.find(tag, end) for tag in _AFTER_LEGACY) if i >= 0), default=data.rfind(b"</"))
    sheet_data = data.find(b"<sheetData")
    prefix = re.match(rb"<((?:[A-Za-z_][\w.-]*:)?)", data[sheet_data:]).group(1) if sheet_data >= 0 else b""
    element = f'<{prefix.decode()}legacyDrawing {_r_attribute(data, rel_id)}/>'.encode()
    return data[:at] + element + data[at:]


# -- relationships, content types, workbook -----------------------------------------------------------

def _add_relationship(data: bytes, rel_type: str, target: str) -> tuple[bytes, str]:
    used = set(re.findall(rb'\sId="([^"]+)"', data))
    number = 1
    while f"rIdOps{number}".encode() in used:
        number += 1
    rel_id = f"rIdOps{number}"
    element = f'<Relationship Id="{rel_id}" Type="{rel_type}" Target="{escape(target)}"/>'.encode()
    at = data.rindex(b"</Relationships>")
    return data[:at] + element + data[at:], rel_id


def _content_type(data: bytes, *, override: tuple[str, str] | None = None,
                  default: tuple[str, str] | None = None) -> bytes:
    if override:
        element = f'<Override PartName="{override[0]}" ContentType="{override[1]}"/>'.encode()
    else:
        if re.search(rb'<Default\s[^>]*Extension="' + re.escape(default[0].encode()) + rb'"', data, re.IGNORECASE):
            return data
        element = f'<Default Extension="{default[0]}" ContentType="{default[1]}"/>'.encode()
    at = data.rindex(b"</Types>")
    return data[:at] + element + data[at:]


def _add_first_sheet(data: bytes, rel_id: str) -> bytes:
    names = {m.decode("utf-8") for m in re.findall(rb'<sheet\b[^>]*\sname="([^"]*)"', data)}
    name, number = SHEET_NAME, 1
    while name.casefold() in {n.casefold() for n in names}:
        number += 1
        name = f"{SHEET_NAME} {number}"
    ids = [int(i) for i in re.findall(rb'<sheet\b[^>]*\ssheetId="(\d+)"', data)]
    sheets = re.search(rb"<sheets\b[^>]*>", data)
    if sheets is None:
        raise UnreadableFile("the workbook lists no sheets")
    element = (f'<sheet name={quoteattr(name)} sheetId="{max(ids, default=0) + 1}" '
               f'{_r_attribute(data, rel_id)}/>').encode()
    data = data[:sheets.end()] + element + data[sheets.end():]
    # Sheet positions moved up by one: names scoped to a sheet and the views follow their sheet.
    data = re.sub(rb'(\slocalSheetId=")(\d+)(")',
                  lambda m: m.group(1) + b"%d" % (int(m.group(2)) + 1) + m.group(3), data)

    def view(match: re.Match) -> bytes:
        tag = match.group(0)
        for attribute in (b"activeTab", b"firstSheet"):
            found = re.search(rb"\s" + attribute + rb'="(\d+)"', tag)
            if found:
                tag = tag[:found.start(1)] + b"%d" % (int(found.group(1)) + 1) + tag[found.end(1):]
            elif attribute == b"activeTab":
                tag = tag[:-2] + b' activeTab="1"/>' if tag.endswith(b"/>") else tag[:-1] + b' activeTab="1">'
        return tag

    return re.sub(rb"<workbookView\b[^>]*>", view, data)


# -- the new parts --------------------------------------------------------------------------------------

def _comments_xml(notes: dict) -> bytes:
    out = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<comments xmlns="{_MAIN_NS}">'
           "<authors><author>ops-pipeline</author></authors><commentList>"]
    for (row, column), texts in sorted(notes.items(), key=lambda item: (item[0][0], column_index(item[0][1]))):
        body = escape(_text("\n".join(texts)))
        out.append(f'<comment ref="{column}{row}" authorId="0"><text><r><t xml:space="preserve">{body}</t></r>'
                   "</text></comment>")
    out.append("</commentList></comments>")
    return "".join(out).encode("utf-8")


def _vml_xml(notes: dict) -> bytes:
    out = ['<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
           'xmlns:x="urn:schemas-microsoft-com:office:excel">'
           '<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="1"/></o:shapelayout>'
           '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
           '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>']
    for index, (row, column) in enumerate(sorted(notes, key=lambda k: (k[0], column_index(k[1])))):
        col0, row0 = column_index(column), row - 1
        out.append(
            f'<v:shape id="_x0000_s{1025 + index}" type="#_x0000_t202" style="position:absolute;margin-left:80pt;'
            f'margin-top:2pt;width:240pt;height:80pt;z-index:{index + 1};visibility:hidden" fillcolor="#ffffe1" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto"><div style="text-align:left"/>'
            '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:Anchor>{col0 + 1}, 15, {row0}, 2, {col0 + 5}, 15, {row0 + 5}, 2</x:Anchor>"
            "<x:AutoFill>False</x:AutoFill>"
            f"<x:Row>{row0}</x:Row><x:Column>{col0}</x:Column></x:ClientData></v:shape>")
    out.append("</xml>")
    return "".join(out).encode("utf-8")


def _findings_sheet(findings: list[dict], sheet: str) -> bytes:
    header = ["Cell", "Code", "Severity", "Message", "Value"]
    rows = [header]
    links = []
    for index, finding in enumerate(findings, start=2):
        where = finding.get("sheet") or sheet
        column = finding.get("column") or ("A" if finding.get("row") else "")
        ref = f"{column}{finding.get('row') or ''}"
        label = f"{where}!{ref}" if ref else where
        rows.append([label, finding.get("code"), finding.get("severity"), finding.get("message"), finding.get("value")])
        if ref:
            quoted = "'" + where.replace("'", "''") + "'"
            links.append(f'<hyperlink ref="A{index}" location={quoteattr(f"{quoted}!{ref}")} '
                         f"display={quoteattr(_text(label))}/>")
    out = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN_NS}">',
           '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
           'state="frozen"/></sheetView></sheetViews>',
           '<cols><col min="1" max="1" width="28" customWidth="1"/><col min="2" max="3" width="18" customWidth="1"/>'
           '<col min="4" max="4" width="90" customWidth="1"/><col min="5" max="5" width="30" customWidth="1"/></cols>',
           "<sheetData>"]
    for number, row in enumerate(rows, start=1):
        cells = []
        for position, value in enumerate(row):
            if value in (None, ""):
                continue
            ref = f"{'ABCDE'[position]}{number}"
            cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(_text(value))}</t></is></c>')
        out.append(f'<row r="{number}">{"".join(cells)}</row>')
    out.append("</sheetData>")
    if links:
        out.append("<hyperlinks>" + "".join(links) + "</hyperlinks>")
    out.append("</worksheet>")
    return "".join(out).encode("utf-8")

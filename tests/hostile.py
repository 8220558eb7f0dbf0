"""Tiny hostile workbooks, built by hand with zipfile: far cells, lying dimensions, odd part names."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{overrides}</Types>"
)
ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]>\n'
    f'<worksheet xmlns="{NS}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c>'
    "</row></sheetData></worksheet>"
)


def cell(ref: str, value) -> str:
    if value is None:
        return f'<c r="{ref}" s="1"/>'  # formatting only
    if isinstance(value, str):
        text = value.replace("&", "&amp;").replace("<", "&lt;")
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def sheet_xml(cells: dict[str, object], dimension: str | None = None) -> str:
    rows: dict[int, list[str]] = {}
    for ref, value in cells.items():
        rows.setdefault(int(re.sub(r"[A-Z]", "", ref)), []).append(cell(ref, value))
    body = "".join(f'<row r="{r}">{"".join(cs)}</row>' for r, cs in sorted(rows.items()))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}">{dim}<sheetData>{body}</sheetData></worksheet>'


def write_package(path: Path, sheets: list[tuple[str, str, str]], *, states: dict[str, str] | None = None) -> Path:
    """A workbook whose sheets are ``(name, part name under xl/, xml)``; ``states`` maps a sheet
    name to ``hidden`` or ``veryHidden``."""
    states = states or {}
    entries = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"'
        + (f' state="{states[name]}"' if name in states else "") + "/>"
        for i, (name, _, _) in enumerate(sheets, 1)
    )
    workbook = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{REL_NS}">'
                f"<sheets>{entries}</sheets></workbook>")
    rels = "".join(f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" Target="{part}"/>'
                   for i, (_, part, _) in enumerate(sheets, 1))
    overrides = "".join(
        f'<Override PartName="/xl/{part}" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for _, part, _ in sheets
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES.format(overrides=overrides))
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels",
                    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">{rels}</Relationships>')
        for _, part, xml in sheets:
            zf.writestr(f"xl/{part}", xml)
    return path


def write_sheet(path: Path, cells: dict[str, object], *, dimension: str | None = None,
                part: str = "worksheets/sheet1.xml", name: str = "Sheet1") -> Path:
    return write_package(path, [(name, part, sheet_xml(cells, dimension))])


def write_ods(path: Path, rows_xml: str, name: str = "Sheet1") -> Path:
    """An OpenDocument spreadsheet with one table whose rows are ``rows_xml``."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{name}">{rows_xml}'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", '<?xml version="1.0"?><manifest:manifest '
                    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>')
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def ods_row(*cells: str, repeat: int = 1) -> str:
    rep = f' table:number-rows-repeated="{repeat}"' if repeat > 1 else ""
    return f"<table:table-row{rep}>{''.join(cells)}</table:table-row>"


def ods_cell(value=None, repeat: int = 1) -> str:
    rep = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    if value is None:
        return f"<table:table-cell{rep}/>"
    return (f'<table:table-cell{rep} office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>")

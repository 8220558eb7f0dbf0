"""The pre-open gate: what a file really is, and whether it is safe to hand to a reader."""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from ops_pipeline.errors import EncryptedFile, LimitExceeded, UnreadableFile, UsageError
from ops_pipeline.readers import guard
from ops_pipeline.readers.guard import Limits, check_workbook_file, scan_xml_for_entities, sniff
from tests.conftest import CORPUS, corpus_files


ENCRYPTED = (
    EncryptedFile, "this workbook is encrypted (password protected); save an unencrypted copy"
)
DAMAGED = (UnreadableFile, "is not a readable workbook (damaged zip: ")
TEXT = (UnreadableFile, "is a text/CSV file, not an Excel workbook")

#: Every data file of the corpus: (what sniff() says, what check_workbook_file() does): the kind
#: it accepts, or the exception class and a phrase of its message.
EXPECTED: dict[str, tuple[str, object]] = {
    "calamine__any_sheets.xlsx": ("ooxml", "ooxml"),
    "calamine__date_iso.xlsx": ("ooxml", "ooxml"),
    "calamine__errors.xlsx": ("ooxml", "ooxml"),
    "calamine__issue_174.xlsx": ("ooxml", "ooxml"),
    "calamine__issue_261.xlsx": ("ooxml", "ooxml"),
    "calamine__issue_530.xlsx": ("ooxml", "ooxml"),  # backslash part names: calamine copes
    "calamine__pass_protected.xlsx": ("ooxml-encrypted", ENCRYPTED),
    "calamine__richtext-namespaced.xlsx": ("ooxml", "ooxml"),
    "calamine__strict_iso_paths.xlsx": ("ooxml", "ooxml"),
    "calamine__vba.xlsm": ("ooxml", "ooxml"),
    "messytables__characters.csv": ("text", TEXT),  # Big5
    "messytables__encrypted_no_password.xls": ("xls-encrypted", ENCRYPTED),  # BIFF FILEPASS
    "messytables__example.tsv": ("text", TEXT),
    "messytables__excel_pasting.csv": ("text", TEXT),
    "messytables__large.xlsx": ("ooxml", "ooxml"),
    "messytables__mixedGLB.csv": ("text", TEXT),
    "messytables__spanish_chars.csv": ("text", TEXT),
    "messytables__utf-16le_encoded.csv": ("text", TEXT),
    "messytables__weird_head_padding.csv": ("text", TEXT),
    "phpspreadsheet__1904_Calendar.xlsx": ("ooxml", "ooxml"),
    "phpspreadsheet__empty.csv": ("empty", (UnreadableFile, "is empty")),
    "phpspreadsheet__issue.3277.xlsx": ("ooxml", "ooxml"),
    "phpspreadsheet__issue.3552.xlsx": ("ooxml", "ooxml"),
    "phpspreadsheet__issue.3613.xlsx": ("ooxml", "ooxml"),
    "phpspreadsheet__issue.3654.xlsx": ("ooxml", "ooxml"),
    "phpspreadsheet__issue.3982.xlsx": ("ooxml", "ooxml"),
    "phpspreadsheet__line_break_in_enclosure_with_escaped_quotes.csv": ("text", TEXT),
    "phpspreadsheet__premiere.utf16be.csv": ("text", TEXT),  # no BOM
    "phpspreadsheet__premiere.utf16lebom.csv": ("text", TEXT),
    "phpspreadsheet__premiere.utf8bom.csv": ("text", TEXT),
    "phpspreadsheet__premiere.win1252.csv": ("text", TEXT),
    "phpspreadsheet__rootZipFiles.xlsx": ("ooxml", "ooxml"),  # workbook.xml at the zip root
    "phpspreadsheet__semicolon_separated.csv": ("text", TEXT),
    "phpspreadsheet__without_cell_reference.xlsx": ("ooxml", "ooxml"),
    "poi__123233_charts.xlsx": ("ooxml", "ooxml"),
    "poi__46535.xlsx": ("ooxml", "ooxml"),
    "poi__53105.xlsx": ("ooxml", "ooxml"),
    "poi__57181.xlsm": ("ooxml", "ooxml"),
    "poi__57893-many-merges.xlsx": ("ooxml", "ooxml"),
    "poi__59746_NoRowNums.xlsx": ("ooxml", "ooxml"),
    "poi__62629_toMerge.xlsx": ("ooxml", "ooxml"),
    "poi__64450.xlsx": ("ooxml", "ooxml"),
    "poi__clusterfuzz-testcase-minimized-XLSX2CSVFuzzer-5636439151607808.xlsx": (
        "zip-damaged", DAMAGED),
    "poi__craftonhills.edu_programreview_report.aspx_goalpriorityreport_"
    "0011d159-1eeb-4b63-8833-867b0926e5f3.xlsx": ("ooxml", "ooxml"),
    "poi__crash-274d6342e4842d61be0fb48eaadad6208ae767ae.xlsx": ("zip-damaged", DAMAGED),
    "poi__duplicate-filename.xlsx": (
        "ooxml", (UnreadableFile, "ambiguous: the zip holds xl/worksheets/sheet1.xml twice")),
    "poi__poc-shared-strings.xlsx": ("ooxml", "ooxml"),  # amplification is the readers' job
    "poi__poc-xmlbomb.xlsx": ("ooxml", (UnreadableFile, guard.DTD_MESSAGE)),
    "poi__protected_passtika.xlsx": ("ooxml-encrypted", ENCRYPTED),
    "poi__sample.strict.xlsx": ("ooxml", "ooxml"),
    "poi__simple-monthly-budget.xlsx": ("ooxml", "ooxml"),
    "poi__xlmmacro.xlsm": ("ooxml", "ooxml"),
    "poi__xxe_in_schema.xlsx": ("ooxml", "ooxml"),  # xmlMaps.xml is never parsed
    "roo__Pfand_from_windows_phone.xlsx": ("ooxml", "ooxml"),
    "roo__boolean-from-google-sheets.xlsx": ("ooxml", "ooxml"),
    "roo__encrypted-letmein.ods": ("ods-encrypted", ENCRYPTED),
    "roo__number_with_zero_prefix.xlsx": ("ooxml", "ooxml"),
    "roo__numbers-export.xlsx": ("ooxml", "ooxml"),
    "roo__type_excel.xlsx": ("xls", "xls"),  # a BIFF8 .xls renamed
    "roo__type_openoffice.xlsx": ("ods", "ods"),  # an .ods renamed
}

needs_corpus = pytest.mark.usefixtures("corpus_dir")


def assert_one_line(exc: Exception, name: str) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{name}: ")
    assert "\n" not in exc.one_line()


# --------------------------------------------------------------------------------------------
# The real corpus


@needs_corpus
def test_every_corpus_file_has_an_expected_outcome():
    assert set(corpus_files()) == set(EXPECTED)


@needs_corpus
@pytest.mark.parametrize("file_name", sorted(EXPECTED))
def test_corpus_file(file_name):
    path = CORPUS / file_name
    kind, outcome = EXPECTED[file_name]
    assert sniff(path) == kind
    if isinstance(outcome, str):
        assert check_workbook_file(path) == outcome
        return
    error_class, phrase = outcome
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(path)
    assert type(caught.value) is error_class
    assert phrase in str(caught.value)
    assert_one_line(caught.value, file_name)
    assert caught.value.file == file_name
    assert "not a zip file" not in str(caught.value) or error_class is not EncryptedFile


@needs_corpus
def test_corpus_display_name_is_used_and_paths_never_shown():
    with pytest.raises(EncryptedFile) as caught:
        check_workbook_file(CORPUS / "poi__protected_passtika.xlsx", display_name="Q3 budget.xlsx")
    assert str(caught.value).startswith("Q3 budget.xlsx: this workbook is encrypted")
    assert str(CORPUS) not in str(caught.value)
    assert caught.value.one_line() == str(caught.value)


@needs_corpus
def test_ole_container_without_a_workbook_stream_is_refused(tmp_path):
    data = (CORPUS / "roo__type_excel.xlsx").read_bytes()
    name = "Workbook".encode("utf-16-le")
    assert data.count(name) == 1
    path = tmp_path / "report.xls"
    path.write_bytes(data.replace(name, "Workbooq".encode("utf-16-le")))
    assert sniff(path) == "unknown"
    with pytest.raises(UnreadableFile, match="is not an Excel workbook"):
        check_workbook_file(path)


@needs_corpus
def test_damaged_ole_header_falls_back_to_a_name_search(tmp_path):
    for source, kind in (("roo__type_excel.xlsx", "xls"),
                         ("calamine__pass_protected.xlsx", "ooxml-encrypted")):
        data = bytearray((CORPUS / source).read_bytes())
        data[30:32] = struct.pack("<H", 7)  # an impossible sector size
        path = tmp_path / source
        path.write_bytes(bytes(data))
        assert sniff(path) == kind


# --------------------------------------------------------------------------------------------
# Synthetic workbooks

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
)
SHEET = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    "<sheetData/></worksheet>"
)


def make_zip(path: Path, parts: dict[str, bytes | str] | list[tuple[str, bytes | str]],
             compression: int = zipfile.ZIP_DEFLATED) -> Path:
    items = parts.items() if isinstance(parts, dict) else parts
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in items:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def make_xlsx(path: Path, extra: dict[str, bytes | str] | None = None) -> Path:
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "xl/workbook.xml": WORKBOOK,
        "xl/worksheets/sheet1.xml": SHEET,
    }
    parts.update(extra or {})
    return make_zip(path, parts)


def test_minimal_workbook_is_accepted(tmp_path):
    path = make_xlsx(tmp_path / "budget.xlsx")
    assert sniff(path) == "ooxml"
    assert check_workbook_file(path) == "ooxml"
    assert check_workbook_file(str(path)) == "ooxml"


def _count_inflated_bytes(monkeypatch) -> list[int]:
    """Every byte any zip member hands out from now on is counted: a guard that refuses a part
    "without inflating it" must show it here, whatever the machine's speed."""
    counted = [0]
    real_read = zipfile.ZipExtFile.read

    def read(self, n=-1):
        data = real_read(self, n)
        counted[0] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return counted


def test_zip_bomb_entry_is_refused_without_inflating_it(tmp_path, monkeypatch):
    bomb = b"<worksheet>" + b" " * (20 * guard.MiB) + b"</worksheet>"
    path = make_xlsx(tmp_path / "bomb.xlsx", {"xl/worksheets/sheet2.xml": bomb})
    inflated = _count_inflated_bytes(monkeypatch)
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path, display_name="upload.xlsx")
    assert inflated[0] < guard.MiB
    message = str(caught.value)
    assert "xl/worksheets/sheet2.xml" in message and "possible zip bomb" in message
    assert "max_compression_ratio" in message and "OPS_PIPELINE_MAX_RATIO" in message
    assert_one_line(caught.value, "upload.xlsx")
    # Trusted, the same file passes with the limit raised.
    assert check_workbook_file(path, Limits(max_compression_ratio=100_000)) == "ooxml"


def test_small_highly_compressible_parts_do_not_trip_the_ratio(tmp_path):
    styles = b"<styleSheet>" + b" " * (900 * guard.KiB) + b"</styleSheet>"  # ratio ~1000
    path = make_xlsx(tmp_path / "blank.xlsx", {"xl/styles.xml": styles})
    assert check_workbook_file(path) == "ooxml"


def test_whole_zip_ratio_is_checked_too(tmp_path):
    # Each part stays under the per-entry threshold; together they are 3 MiB of blanks.
    parts = {f"xl/media/blank{i}.bin": b"\0" * (900 * guard.KiB) for i in range(4)}
    path = make_xlsx(tmp_path / "many.xlsx", parts)
    with pytest.raises(LimitExceeded, match=r"the zip expands .*OPS_PIPELINE_MAX_RATIO"):
        check_workbook_file(path)


def test_declared_uncompressed_total_is_limited(tmp_path):
    path = make_xlsx(tmp_path / "big.xlsx", {"xl/sharedStrings.xml": "x" * 5000})
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path, Limits(max_uncompressed_bytes=4000))
    assert "unpacks to" in str(caught.value)
    assert "max_uncompressed_bytes; set OPS_PIPELINE_MAX_UNCOMPRESSED_BYTES" in str(caught.value)


def test_too_many_entries(tmp_path):
    path = make_xlsx(tmp_path / "entries.xlsx", {f"xl/media/i{i}.png": b"" for i in range(10)})
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path, Limits(max_zip_entries=5))
    assert "more than 5 entries" in str(caught.value)
    assert "OPS_PIPELINE_MAX_ZIP_ENTRIES" in str(caught.value)
    assert check_workbook_file(path, Limits(max_zip_entries=13)) == "ooxml"


def test_too_many_entries_at_the_default_limit(tmp_path):
    path = tmp_path / "entries.xlsx"
    parts = [("[Content_Types].xml", CONTENT_TYPES), ("xl/workbook.xml", WORKBOOK)]
    parts += [(f"xl/media/{i}.png", b"") for i in range(10_000)]
    make_zip(path, parts, zipfile.ZIP_STORED)
    with pytest.raises(LimitExceeded, match="more than 10,000 entries"):
        check_workbook_file(path)


@pytest.mark.parametrize("entry", ["../evil.xml", "xl/../../evil.xml", "/etc/passwd",
                                   "\\evil.xml", "C:/evil.xml", "xl\\..\\..\\evil.xml"])
def test_unsafe_entry_names_are_refused(tmp_path, entry):
    path = make_zip(tmp_path / "evil.xlsx", {
        "[Content_Types].xml": CONTENT_TYPES, "xl/workbook.xml": WORKBOOK, entry: b"x",
    })
    with pytest.raises(UnreadableFile, match="unsafe zip entry name") as caught:
        check_workbook_file(path)
    assert_one_line(caught.value, "evil.xlsx")


def test_backslash_part_names_are_accepted(tmp_path):
    path = make_zip(tmp_path / "win.xlsx", {
        "[Content_Types].xml": CONTENT_TYPES,
        "xl\\workbook.xml": WORKBOOK,
        "xl\\worksheets\\sheet1.xml": SHEET,
    })
    assert check_workbook_file(path) == "ooxml"


@pytest.mark.parametrize("first, second, phrase", [
    ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet1.xml",
     "ambiguous: the zip holds xl/worksheets/sheet1.xml twice"),
    ("xl/worksheets/sheet1.xml", "xl\\worksheets\\sheet1.xml",
     "ambiguous: the zip holds both xl/worksheets/sheet1.xml and xl\\worksheets\\sheet1.xml"),
    ("xl/worksheets/sheet1.xml", "XL/Worksheets/Sheet1.xml", "ambiguous: the zip holds both"),
])
def test_duplicate_entries_are_ambiguous(tmp_path, first, second, phrase):
    path = tmp_path / "dup.xlsx"
    with pytest.warns(UserWarning, match="Duplicate name") if first == second else _nothing():
        make_zip(path, [("[Content_Types].xml", CONTENT_TYPES), ("xl/workbook.xml", WORKBOOK),
                        (first, SHEET), (second, SHEET)])
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(path)
    assert type(caught.value) is UnreadableFile
    assert phrase in str(caught.value)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _patch_central_entry(path: Path, entry: str, offset: int, fmt: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")  # the first central directory header
    while True:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46 : at + 46 + name_len] == entry.encode():
            struct.pack_into(fmt, data, at + offset, value)
            path.write_bytes(bytes(data))
            return
        at += 46 + name_len + extra_len + comment_len


def test_overlapping_entries_are_refused(tmp_path):
    path = make_xlsx(tmp_path / "overlap.xlsx", {"xl/worksheets/sheet2.xml": SHEET})
    _patch_central_entry(path, "xl/worksheets/sheet2.xml", 42, "<I", 0)  # local header offset
    with pytest.raises(UnreadableFile, match=r"damaged zip: entry .* overlaps"):
        check_workbook_file(path)


def test_zip_level_encryption_is_an_encrypted_file(tmp_path):
    path = make_xlsx(tmp_path / "locked.xlsx")
    _patch_central_entry(path, "xl/workbook.xml", 8, "<H", 0x1)  # general purpose flag bit 0
    with pytest.raises(EncryptedFile, match="save an unencrypted copy"):
        check_workbook_file(path)


def test_truncated_zip_is_damaged(tmp_path):
    data = make_xlsx(tmp_path / "full.xlsx").read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(data[: len(data) // 2])
    assert sniff(path) == "zip-damaged"
    with pytest.raises(UnreadableFile, match=r"is not a readable workbook \(damaged zip: "):
        check_workbook_file(path)


def test_corrupt_entry_data_is_damaged(tmp_path):
    path = make_xlsx(tmp_path / "corrupt.xlsx")
    data = bytearray(path.read_bytes())
    at = data.index(b"xl/workbook.xml") + len("xl/workbook.xml")  # deflate data follows
    data[at : at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFile, match=r"damaged zip: xl/workbook.xml: "):
        check_workbook_file(path)


# --------------------------------------------------------------------------------------------
# DTDs and entities


BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>\n'
    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
)


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/workbook.xml",
                                  "xl/worksheets/sheet1.xml", "xl/_rels/workbook.xml.rels"])
def test_dtd_in_a_part_is_refused(tmp_path, part):
    parts = {"[Content_Types].xml": CONTENT_TYPES, "xl/workbook.xml": WORKBOOK,
             "xl/worksheets/sheet1.xml": SHEET}
    parts[part] = BOMB
    path = make_zip(tmp_path / "lol.xlsx", parts)
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(path)
    assert guard.DTD_MESSAGE in str(caught.value) and part in str(caught.value)
    assert_one_line(caught.value, "lol.xlsx")


@pytest.mark.parametrize("head, found", [
    (BOMB, "<!DOCTYPE"),
    ('<?xml version="1.0"?><!-- <a> a comment first --><!DOCTYPE x []><x/>', "<!DOCTYPE"),
    ("\ufeff<!ENTITY x 'y'><x/>", "<!ENTITY"),
    ('<?xml version="1.0"?>' + " " * 999 + "<!DOCTYPE x []><x/>", "<!DOCTYPE"),  # chunk edge
    ('<?xml version="1.0"?>' + " " * 4090 + "<!DOCTYPE x []><x/>", "<!DOCTYPE"),
    ('<?xml version="1.0"?>' + " " * 1002 + "<!-- c --><x/>", None),
    ('<?xml version="1.0"?>' + "<!-- " + "pad " * 20_000 + "-->" + "<x/>", "no XML root element"),
    ('<?xml version="1.0"?><x>text with &lt;!ENTITY and <![CDATA[<!DOCTYPE]]></x>', None),
    (SHEET, None),
    ("", None),
    ('<?xml version="1.0"?>', None),  # no root element: the parser will say so
])
def test_scan_xml_for_entities(tmp_path, head, found):
    path = make_zip(tmp_path / "x.zip", {"part.xml": head})
    with zipfile.ZipFile(path) as zf:
        result = scan_xml_for_entities(zf, "part.xml")
    if found is None:
        assert result is None
    else:
        assert result is not None and found in result


def test_part_without_a_root_element_in_its_head_is_refused(tmp_path):
    path = make_xlsx(tmp_path / "junk.xlsx", {"xl/styles.xml": b"\0" * (100 * guard.KiB)})
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(path)
    assert str(caught.value) == (
        "junk.xlsx: is not a readable workbook (xl/styles.xml: no XML root element in its first "
        "64.0 KiB)"
    )


def test_scan_handles_utf16_parts(tmp_path):
    head = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x []><x/>'
    for data in ("\ufeff" + head).encode("utf-16-le"), head.encode("utf-16-be"):
        path = make_zip(tmp_path / "u.zip", {"part.xml": data})
        with zipfile.ZipFile(path) as zf:
            assert scan_xml_for_entities(zf, "part.xml") == "<!DOCTYPE"


def test_scan_reads_only_the_head(tmp_path, monkeypatch):
    sheet = SHEET.replace("<sheetData/>", "<sheetData>" + "<row/>" * 3_000_000 + "</sheetData>")
    path = make_zip(tmp_path / "x.zip", {"part.xml": sheet})
    with zipfile.ZipFile(path) as zf:
        inflated = _count_inflated_bytes(monkeypatch)
        assert scan_xml_for_entities(zf, zf.getinfo("part.xml")) is None
        assert 0 < inflated[0] < guard.MiB  # of an 18 MB part


# --------------------------------------------------------------------------------------------
# Other kinds of file


def test_ods_and_encrypted_ods(tmp_path):
    manifest = ('<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
                'manifest:1.0"><manifest:file-entry manifest:full-path="content.xml">{}'
                "</manifest:file-entry></manifest:manifest>")
    base = {"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": "<office:document-content/>"}
    plain = make_zip(tmp_path / "plain.ods", {**base, "META-INF/manifest.xml": manifest.format("")})
    assert check_workbook_file(plain) == "ods"
    locked = make_zip(tmp_path / "locked.ods", {
        **base, "META-INF/manifest.xml": manifest.format("<manifest:encryption-data/>")})
    assert sniff(locked) == "ods-encrypted"
    with pytest.raises(EncryptedFile, match="locked.ods: this workbook is encrypted"):
        check_workbook_file(locked)


def test_other_zips_are_not_workbooks(tmp_path):
    docx = make_zip(tmp_path / "letter.xlsx", {
        "[Content_Types].xml": CONTENT_TYPES
        .replace("spreadsheetml.sheet", "wordprocessingml.document")
        .replace("/xl/workbook.xml", "/word/document.xml"),
        "word/document.xml": "<w:document/>",
    })
    assert sniff(docx) == "zip-other"
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(docx)
    assert str(caught.value) == "letter.xlsx: is a zip file but not an Excel workbook"
    xlsb = make_zip(tmp_path / "binary.xlsb", {"[Content_Types].xml": "<Types/>",
                                                "xl/workbook.bin": b"\0\1"})
    with pytest.raises(UnreadableFile, match=r"not an Excel workbook \(an .xlsb binary"):
        check_workbook_file(xlsb)
    odt = make_zip(tmp_path / "text.ods", {"mimetype": "application/vnd.oasis.opendocument.text"})
    assert sniff(odt) == "zip-other"
    plain = make_zip(tmp_path / "photos.xlsx", {"a.jpg": b"\xff\xd8"})
    with pytest.raises(UnreadableFile, match="is a zip file but not an Excel workbook"):
        check_workbook_file(plain)


def test_text_and_markup_and_binary(tmp_path):
    csv = tmp_path / "budget.xlsx"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(UnreadableFile, match="^budget.xlsx: is a text/CSV file, not an Excel"):
        check_workbook_file(csv)
    html = tmp_path / "export.xls"
    html.write_text("<html><body><table><tr><td>1</td></tr></table></body></html>")
    assert sniff(html) == "text"
    with pytest.raises(UnreadableFile, match=r"is a text file \(HTML/XML markup\)"):
        check_workbook_file(html)
    binary = tmp_path / "photo.xlsx"
    binary.write_bytes(bytes(range(256)) * 10)
    assert sniff(binary) == "unknown"
    with pytest.raises(UnreadableFile, match="photo.xlsx: is not an Excel workbook$"):
        check_workbook_file(binary)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    assert sniff(path) == "empty"
    with pytest.raises(UnreadableFile, match="^empty.xlsx: is empty$"):
        check_workbook_file(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UnreadableFile, match="nope.xlsx: the file does not exist"):
        check_workbook_file(tmp_path / "nope.xlsx")
    with pytest.raises(UnreadableFile, match="is not a regular file"):
        check_workbook_file(tmp_path)


# --------------------------------------------------------------------------------------------
# Messages and limits


def test_file_size_limit_refuses_before_reading(tmp_path, monkeypatch):
    path = make_xlsx(tmp_path / "budget.xlsx")

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(guard, "open", no_reading, raising=False)
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path, Limits(max_file_bytes=10), display_name="budget (1).xlsx")
    message = str(caught.value)
    assert "max_file_bytes; set OPS_PIPELINE_MAX_FILE_BYTES to raise it" in message
    assert "over the limit of 10 bytes" in message
    assert_one_line(caught.value, "budget (1).xlsx")
    assert str(tmp_path) not in message


def test_display_name_never_breaks_the_line(tmp_path):
    path = tmp_path / "deep" / "dir"
    path.mkdir(parents=True)
    empty = path / "x.xlsx"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(empty, display_name="evil\nname\r.xlsx")
    assert_one_line(caught.value, "evil?name?.xlsx")
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(empty)
    assert str(caught.value) == "x.xlsx: is empty"


def test_defaults():
    limits = Limits()
    assert limits.max_file_bytes == 100 * 1024 * 1024
    assert limits.max_uncompressed_bytes == 512 * 1024 * 1024
    assert limits.max_compression_ratio == 100
    assert limits.max_zip_entries == 10_000
    assert (limits.max_rows, limits.max_columns) == (1_048_576, 16_384)
    assert (limits.max_cells, limits.max_cell_chars) == (50_000_000, 32_767)
    assert set(guard.ENV_VARS) <= {f.name for f in __import__("dataclasses").fields(Limits)}


def test_limits_from_env():
    env = {
        "OPS_PIPELINE_MAX_FILE_BYTES": "2048",
        "OPS_PIPELINE_MAX_UNCOMPRESSED_BYTES": " 1_000_000 ",
        "OPS_PIPELINE_MAX_RATIO": "250",
        "OPS_PIPELINE_MAX_ZIP_ENTRIES": "20",
        "OPS_PIPELINE_MAX_ROWS": "100",
        "OPS_PIPELINE_MAX_COLUMNS": "",  # blank: the default
        "OPS_PIPELINE_MAX_CELLS": "1000",
        "OPS_PIPELINE_MAX_CELL_CHARS": "500",
        "UNRELATED": "x",
    }
    limits = Limits.from_env(env)
    assert limits == Limits(max_file_bytes=2048, max_uncompressed_bytes=1_000_000,
                            max_compression_ratio=250, max_zip_entries=20, max_rows=100,
                            max_cells=1000, max_cell_chars=500)
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({}, max_rows=5).max_rows == 5


def test_limits_from_os_environ(monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_MAX_CELLS", "77")
    assert Limits.from_env().max_cells == 77


@pytest.mark.parametrize("raw", ["abc", "1.5", "10MB", "0", "-3"])
def test_limits_from_env_rejects_bad_values(raw):
    with pytest.raises(UsageError) as caught:
        Limits.from_env({"OPS_PIPELINE_MAX_ROWS": raw})
    assert "OPS_PIPELINE_MAX_ROWS" in str(caught.value)
    assert "\n" not in caught.value.one_line()


def test_limits_must_be_positive_integers():
    with pytest.raises(UsageError, match="max_rows"):
        Limits(max_rows=0)
    with pytest.raises(UsageError, match="max_cells"):
        Limits(max_cells=1.5)  # type: ignore[arg-type]


@needs_corpus
def test_mutated_corpus_files_fail_closed_with_one_line(tmp_path):
    """Damaged copies of real files: accepted, or refused with a pipeline error, never a crash."""
    import random

    rnd = random.Random(20240521)
    sources = [CORPUS / n for n in sorted(EXPECTED)
               if n.endswith((".xlsx", ".xlsm", ".xls", ".ods"))
               and (CORPUS / n).stat().st_size < 60_000]
    path = tmp_path / "mutant.xlsx"
    for _ in range(200):
        data = bytearray(rnd.choice(sources).read_bytes())
        for _ in range(rnd.choice((1, 3, 10))):
            at = rnd.randrange(len(data))
            if rnd.random() < 0.7:
                data[at] = rnd.randrange(256)
            else:
                data[at : at + 4] = rnd.choice((b"\xff" * 4, b"\0" * 4, b"\xfe\xff\xff\xff"))
        path.write_bytes(bytes(data))
        assert sniff(path) in guard.KINDS
        try:
            assert check_workbook_file(path) in guard.ACCEPTED_KINDS
        except UnreadableFile as exc:
            assert_one_line(exc, "mutant.xlsx")

"""A cheap gate in front of the spreadsheet readers: what is this file, and is it safe to open?

Workbooks come from outside and are untrusted. Before openpyxl or calamine touches a file,
:func:`check_workbook_file` looks at it with the standard library only (``zipfile``,
``struct``) and a few bounded reads:

* the file size, before anything is read (:class:`LimitExceeded`);
* what the file really is, whatever its extension (:func:`sniff`): an OOXML zip, an ODS zip, a
  BIFF ``.xls`` in an OLE/CFB container, an *encrypted* workbook (OOXML encryption lives in an
  OLE container, so without this check it surfaces as "not a zip file"), a text/CSV file...;
* the zip's central directory: entry count, declared uncompressed total, compression ratios,
  duplicate entry names, absolute or ``..`` entry names, overlapping entries (a non-recursive
  zip bomb), zip-level encryption;
* the first bytes of every part that starts like XML, whatever its name: a ``<!DOCTYPE`` /
  ``<!ENTITY`` there is refused (OOXML parts never declare a DTD; a declaration is an
  entity-expansion attack);
* each sheet's real extent (:mod:`ops_pipeline.readers.extent`, a streaming byte scan of the
  worksheets, ``content.xml`` or the BIFF cell records): a stray far cell that would make a
  reader pad millions of empty cells is refused (``max_empty_cells``).

Apart from the worksheets' extent scan (streamed, nothing kept), nothing is decompressed in
full: only entry *heads* (up to 64 KiB each, and usually a few hundred bytes because the scan
stops at the root element) are inflated. Every refusal is one of
the :mod:`ops_pipeline.errors` classes with a one-line message that starts with the file's
display name (never a full temporary path) and, for limits, names the limit and the environment
variable that raises it.

Not checked here (left to the readers, which enforce the rest of :class:`Limits`): rows,
columns, cells and cell text length; XML Map schemas (``xl/xmlMaps.xml`` may point at remote
schemas, but nothing in the pipeline parses it); CRCs of the entries (only heads are read).
"""
from __future__ import annotations

import codecs
import dataclasses
import os
import re
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Mapping

from ..errors import EncryptedFile, LimitExceeded, PipelineError, UnreadableFile, UsageError

__all__ = [
    "ACCEPTED_KINDS",
    "ENV_VARS",
    "KINDS",
    "Limits",
    "check_workbook_file",
    "scan_xml_for_entities",
    "sniff",
]

KiB = 1024
MiB = 1024 * KiB

#: Every value :func:`sniff` returns. ``zip-damaged`` (starts like a zip but the zip cannot be
#: read) is an addition to the list in the design brief.
KINDS = (
    "ooxml",
    "ods",
    "ods-encrypted",
    "ooxml-encrypted",
    "xls",
    "xls-encrypted",
    "zip-other",
    "zip-damaged",
    "text",
    "empty",
    "unknown",
)
#: The kinds :func:`check_workbook_file` lets through (the workbook reader reads all three).
ACCEPTED_KINDS = ("ooxml", "xls", "ods")

ENCRYPTED_MESSAGE = "this workbook is encrypted (password protected); save an unencrypted copy"
DTD_MESSAGE = "contains an XML DTD/entity declarations (refused: possible entity-expansion attack)"

#: The environment variable that overrides each limit (see :meth:`Limits.from_env`).
ENV_VARS = {
    "max_file_bytes": "OPS_PIPELINE_MAX_FILE_BYTES",
    "max_uncompressed_bytes": "OPS_PIPELINE_MAX_UNCOMPRESSED_BYTES",
    "max_compression_ratio": "OPS_PIPELINE_MAX_RATIO",
    "max_zip_entries": "OPS_PIPELINE_MAX_ZIP_ENTRIES",
    "max_rows": "OPS_PIPELINE_MAX_ROWS",
    "max_columns": "OPS_PIPELINE_MAX_COLUMNS",
    "max_cells": "OPS_PIPELINE_MAX_CELLS",
    "max_cell_chars": "OPS_PIPELINE_MAX_CELL_CHARS",
    "max_empty_cells": "OPS_PIPELINE_MAX_EMPTY_CELLS",
}


@dataclass(frozen=True)
class Limits:
    """Safety limits for one input file. All values are positive integers.

    The guard enforces the file and zip limits; the readers enforce rows, columns, cells and
    cell text length while they read.
    """

    #: Size of the file on disk.
    max_file_bytes: int = 100 * MiB
    #: Sum of the uncompressed sizes the zip declares for its entries.
    max_uncompressed_bytes: int = 512 * MiB
    #: Uncompressed/compressed ratio, per entry and for the whole zip; only checked for an entry
    #: (or a whole zip) larger than ``ratio_min_bytes`` uncompressed, so that small, very
    #: compressible parts (a 200 KB run of blanks) do not trip it.
    max_compression_ratio: int = 100
    #: Entries in the zip (the central directory is counted before zipfile parses it).
    max_zip_entries: int = 10_000
    #: Rows per sheet (Excel's own maximum).
    max_rows: int = 1_048_576
    #: Columns per sheet (Excel's own maximum, XFD).
    max_columns: int = 16_384
    #: Cells per workbook.
    max_cells: int = 50_000_000
    #: Characters in one cell (Excel's own maximum).
    max_cell_chars: int = 32_767
    #: Empty cells a reader may pad one sheet with, from A1 to its farthest cell, beyond four
    #: per cell holding data: one stray cell at XFD1048576 would make 17 billion of them.
    max_empty_cells: int = 1_000_000
    #: Below this uncompressed size the compression ratio is not checked (no environment var).
    ratio_min_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value <= 0:
                raise UsageError(f"limit {field.name} must be a positive integer, not {value!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: int) -> "Limits":
        """The defaults, overridden by ``OPS_PIPELINE_MAX_*`` variables, then by ``overrides``.

        A variable that is unset or blank keeps the default. A value that is not a positive
        integer (underscores allowed: ``200_000_000``) raises :class:`UsageError`.
        """
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for field, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or not raw.strip():
                continue
            try:
                value = int(raw.strip())
            except ValueError:
                raise UsageError(
                    f"{var} must be a whole number, not {_clip(raw, 40)!r}",
                    hint=f"unset {var} or set it to a positive integer",
                ) from None
            if value <= 0:
                raise UsageError(
                    f"{var} must be a positive integer, not {value}",
                    hint=f"unset {var} or set it to a positive integer",
                )
            values[field] = value
        values.update(overrides)
        return cls(**values)


# --------------------------------------------------------------------------------------------
# Small helpers


def _clip(text: str, width: int = 120) -> str:
    """Untrusted text made safe for a one-line message: no control characters, bounded."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text if len(text) <= width else text[: width - 3] + "..."


def _display(path: Path, display_name: str | None) -> str:
    name = display_name if display_name else path.name
    return _clip(name, 200) or "(unnamed file)"


def _size(n: int) -> str:
    if n < 10 * KiB:
        return f"{n:,} bytes"
    if n < MiB:
        return f"{n / KiB:.1f} KiB"
    if n < 1024 * MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n / (1024 * MiB):.2f} GiB"


def _limit_error(name: str, what: str, field: str, limit_text: str) -> LimitExceeded:
    var = ENV_VARS[field]
    return LimitExceeded(
        f"{name}: {what}, over the limit of {limit_text} ({field}; set {var} to raise it)",
        file=name,
    )


def _damaged(name: str, detail: object) -> UnreadableFile:
    return UnreadableFile(
        f"{name}: is not a readable workbook (damaged zip: {_clip(_first_line(detail))})",
        file=name,
        hint="open and re-save it in Excel, or ask the sender for a new copy",
    )


def _first_line(detail: object) -> str:
    text = str(detail).strip() or type(detail).__name__
    return text.splitlines()[0] if text else "unknown error"


class _ZipReadError(Exception):
    """An entry of an otherwise listed zip could not be read (bad local header, bad data...)."""


ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
CFB_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


# --------------------------------------------------------------------------------------------
# Zip: central directory pre-count, classification, entry heads

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"


def _read_at(fh: IO[bytes], offset: int, n: int) -> bytes:
    fh.seek(offset)
    return fh.read(n)


def _count_central_directory(fh: IO[bytes], size: int, stop_after: int) -> int | None:
    """Count central-directory headers, stopping after ``stop_after`` of them.

    Reads the end-of-central-directory record and walks the headers (46 bytes plus lengths
    each) without building anything. ``None`` when the directory cannot be located: zipfile
    then reports the damage itself.
    """
    tail_len = min(size, 22 + 65535)
    tail = _read_at(fh, size - tail_len, tail_len)
    pos = tail.rfind(_EOCD)
    if pos < 0 or pos + 22 > len(tail):
        return None
    eocd_at = size - tail_len + pos
    (cd_size,) = struct.unpack_from("<I", tail, pos + 12)
    cd_end = eocd_at
    if pos >= 20 and tail[pos - 20 : pos - 16] == _EOCD64_LOCATOR:
        (eocd64_at,) = struct.unpack_from("<Q", tail, pos - 12)
        rec = _read_at(fh, eocd64_at, 56) if eocd64_at < size else b""
        if len(rec) == 56 and rec[:4] == _EOCD64:
            (cd_size,) = struct.unpack_from("<Q", rec, 40)
            cd_end = eocd_at - 20 - 56
    start = cd_end - cd_size
    if start < 0 or cd_size > size:
        return None
    count = 0
    pos = start
    chunk = b""
    chunk_at = start
    while pos + 46 <= cd_end and count < stop_after:
        if pos + 46 > chunk_at + len(chunk):
            chunk_at = pos
            chunk = _read_at(fh, pos, min(256 * KiB, cd_end - pos))
        rel = pos - chunk_at
        if chunk[rel : rel + 4] != _CENTRAL:
            break
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", chunk, rel + 28)
        pos += 46 + name_len + extra_len + comment_len
        count += 1
    # The walk, not the record's own count: zipfile builds an entry per header it finds, and a
    # damaged record's count means nothing.
    return count


def _norm(name: str) -> str:
    """A zip entry name as an OPC part name would compare: forward slashes, lower case."""
    return name.replace("\\", "/").lstrip("/").lower()


def _entry_map(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    return {_norm(info.filename): info for info in zf.infolist()
            if not info.filename.endswith("/")}


def _read_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int) -> bytes:
    try:
        with zf.open(info) as fh:
            return fh.read(n)
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError
        raise _ZipReadError(f"{_clip(info.filename, 80)}: {_first_line(exc)}") from None


def _iter_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int, chunk: int = 4 * KiB,
               first: int = 1 * KiB) -> Iterator[bytes]:
    """The entry's data so far: ``first`` bytes, then growing by ``chunk`` up to ``max_bytes``
    (never more)."""
    try:
        with zf.open(info) as fh:
            data = b""
            while len(data) < max_bytes:
                more = fh.read(min(chunk if data else first, max_bytes - len(data)))
                if not more:
                    break
                data += more
                yield data
    except Exception as exc:
        raise _ZipReadError(f"{_clip(info.filename, 80)}: {_first_line(exc)}") from None


def _contains(zf: zipfile.ZipFile, info: zipfile.ZipInfo, needles: tuple[bytes, ...],
              max_bytes: int) -> bytes | None:
    """The first of ``needles`` found in the entry's first ``max_bytes``, else None."""
    longest = max(len(n) for n in needles)
    seen = 0
    for data in _iter_head(zf, info, max_bytes, chunk=64 * KiB, first=64 * KiB):
        window = data[max(0, seen - longest) :]
        for needle in needles:
            if needle in window:
                return needle
        seen = len(data)
    return None


_ODS_MIMETYPES = (
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.spreadsheet-template",
)
_OOXML_WORKBOOK_TYPES = (
    b"spreadsheetml.sheet.main+xml",
    b"spreadsheetml.template.main+xml",
    b"ms-excel.sheet.macroEnabled.main+xml",
    b"ms-excel.template.macroEnabled.main+xml",
    b"ms-excel.addin.macroEnabled.main+xml",
)
_XLSB_TYPE = b"ms-excel.sheet.binary.macroEnabled.main"


def _zip_kind(zf: zipfile.ZipFile) -> str:
    """``ooxml``, ``ods``, ``ods-encrypted`` or ``zip-other``; may raise :class:`_ZipReadError`."""
    entries = _entry_map(zf)
    mimetype = entries.get("mimetype")
    if mimetype is not None:
        declared = _read_head(zf, mimetype, 256).decode("ascii", "replace").strip()
        if declared in _ODS_MIMETYPES:
            manifest = entries.get("meta-inf/manifest.xml")
            if manifest is not None and _contains(zf, manifest, (b"encryption-data",), 4 * MiB):
                return "ods-encrypted"
            return "ods"
        return "zip-other"
    content_types = entries.get("[content_types].xml")
    if content_types is None:
        return "zip-other"
    if _contains(zf, content_types, _OOXML_WORKBOOK_TYPES, 4 * MiB):
        return "ooxml"
    if any(key.rsplit("/", 1)[-1] == "workbook.xml" for key in entries):
        return "ooxml"
    return "zip-other"


def _is_xlsb(zf: zipfile.ZipFile) -> bool:
    entries = _entry_map(zf)
    if any(key.rsplit("/", 1)[-1] == "workbook.bin" for key in entries):
        return True
    content_types = entries.get("[content_types].xml")
    try:
        return bool(content_types and _contains(zf, content_types, (_XLSB_TYPE,), 1 * MiB))
    except _ZipReadError:
        return False


# --------------------------------------------------------------------------------------------
# XML heads: DTD / entity declarations

_ROOT_START = re.compile(r"<[^?!/\s<>]")


def _prolog_finding(text: str) -> str | None | bool:
    """Scan an XML prolog. A finding (str), None when the root element starts cleanly, or
    False when the text ends before either is known (more bytes are needed)."""
    i = 0
    while True:
        j = text.find("<", i)
        if j < 0 or j + 1 >= len(text):
            return False
        if text.startswith("<?", j):
            k = text.find("?>", j + 2)
            if k < 0:
                return False
            i = k + 2
        elif text.startswith("<!--", j):
            k = text.find("-->", j + 4)
            if k < 0:
                return False
            i = k + 3
        elif text.startswith("<!", j):
            word = text[j : j + 9].upper()
            if word.startswith("<!DOCTYPE"):
                return "<!DOCTYPE"
            if word.startswith("<!ENTITY"):
                return "<!ENTITY"
            if len(word) < 9 and any(
                full.startswith(word) for full in ("<!DOCTYPE", "<!ENTITY", "<!--")
            ):
                return False  # cut at a chunk boundary: decide with more bytes
            return "<! markup declaration"
        elif _ROOT_START.match(text, j):
            return None
        else:
            i = j + 1


def _decode_head(data: bytes) -> str:
    """Enough of a decoding to find ASCII markup: UTF-16 by BOM or by pattern, else Latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, b"<\x00")):
        return data[: len(data) // 2 * 2].decode("utf-16-le", "replace")
    if data.startswith((codecs.BOM_UTF16_BE, b"\x00<")):
        return data[: len(data) // 2 * 2].decode("utf-16-be", "replace")
    return data.decode("latin-1")


def scan_xml_for_entities(zf: zipfile.ZipFile, name: str | zipfile.ZipInfo,
                          max_bytes: int = 64 * KiB) -> str | None:
    """Look for a DTD or entity declaration at the head of one XML part of ``zf``.

    Stream-reads at most ``max_bytes`` decompressed bytes and stops as soon as the root element
    starts (a DTD can only come before it), so a typical part costs a few hundred bytes.
    Returns what was found: ``"<!DOCTYPE"``, ``"<!ENTITY"``, another ``"<!..."`` declaration,
    or (not starting with ``"<!"``) a prolog longer than ``max_bytes``, which cannot be
    verified; ``None`` when the part is clean (or ends before any root element: the parser
    will report that). A part that cannot
    be read raises :class:`zipfile.BadZipFile`.
    """
    info = name if isinstance(name, zipfile.ZipInfo) else zf.getinfo(name)
    data = b""
    try:
        for data in _iter_head(zf, info, max_bytes):
            found = _prolog_finding(_decode_head(data))
            if found is not False:
                return found
    except _ZipReadError as exc:
        raise zipfile.BadZipFile(str(exc)) from None
    if len(data) >= max_bytes and info.file_size > max_bytes:
        return f"no XML root element in its first {_size(max_bytes)}"
    return None


def _xml_parts_to_scan(zf: zipfile.ZipFile, kind: str) -> list[zipfile.ZipInfo]:
    entries = _entry_map(zf)
    if kind == "ods":
        # manifest.xml is not parsed, and OpenOffice 2 wrote a DOCTYPE there.
        return [entries[k] for k in ("content.xml", "styles.xml") if k in entries]
    # Every XML part of the package, whatever its name: the relationships may point a reader
    # at xl/worksheets/sheet1.bin or .txt. A part that starts like XML is XML to a parser.
    return [info for key, info in entries.items()
            if key.endswith((".xml", ".rels")) or _starts_like_xml(zf, info)]


_XML_START = re.compile(rb"^(?:\xef\xbb\xbf|\xff\xfe|\xfe\xff)?[\s\x00]*(?:<|\x00<)")


def _starts_like_xml(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    if info.file_size == 0:
        return False
    try:
        head = _read_head(zf, info, 512)
    except _ZipReadError as exc:
        raise zipfile.BadZipFile(str(exc)) from None
    return bool(_XML_START.match(head))


# --------------------------------------------------------------------------------------------
# OLE / Compound File Binary: directory, a stream's head, BIFF FILEPASS


class _CfbError(Exception):
    pass


_MAXREGSECT = 0xFFFFFFFA
_NOSTREAM = 0xFFFFFFFF


class _Cfb:
    """Just enough of [MS-CFB] to list the root storage's streams and read a stream's head.

    Every read is bounds-checked and every chain walk is bounded and loop-checked: the file is
    untrusted.
    """

    def __init__(self, fh: IO[bytes], size: int):
        self.fh = fh
        self.size = size
        header = _read_at(fh, 0, 512)
        if len(header) < 512 or header[:8] != CFB_MAGIC:
            raise _CfbError("truncated header")
        major, _byte_order, sector_shift, mini_shift = struct.unpack_from("<HHHH", header, 26)
        if sector_shift not in (9, 12) or mini_shift != 6:
            raise _CfbError("bad sector size")
        self.major = major
        self.ss = 1 << sector_shift
        self.mini_ss = 1 << mini_shift
        (_num_fat, self.first_dir, _txn, self.mini_cutoff, self.first_minifat, _num_minifat,
         self.first_difat, self.num_difat) = struct.unpack_from("<8I", header, 44)
        self.difat = list(struct.unpack_from("<109I", header, 76))
        self.max_sectors = max(1, (size - 512) // self.ss + 1)
        self._difat_extended = False
        self._fat_sectors: dict[int, bytes] = {}
        self._chains: dict[int, tuple[list[int], set[int]]] = {}

    def _sector_offset(self, sector: int) -> int:
        if sector >= _MAXREGSECT:
            raise _CfbError("bad sector number")
        offset = (sector + 1) * self.ss
        if offset >= self.size:
            raise _CfbError("sector beyond the end of the file")
        return offset

    def _read_sector(self, sector: int) -> bytes:
        return _read_at(self.fh, self._sector_offset(sector), self.ss)

    def _fat_sector_location(self, index: int) -> int:
        if index >= len(self.difat) and not self._difat_extended:
            self._difat_extended = True
            sector, seen = self.first_difat, set()
            per = self.ss // 4 - 1
            while sector < _MAXREGSECT and len(seen) < min(self.num_difat, self.max_sectors):
                if sector in seen:
                    raise _CfbError("DIFAT loop")
                seen.add(sector)
                data = self._read_sector(sector)
                if len(data) < self.ss:
                    raise _CfbError("truncated DIFAT")
                values = struct.unpack_from(f"<{per + 1}I", data)
                self.difat.extend(values[:per])
                sector = values[per]
        if index >= len(self.difat):
            raise _CfbError("FAT index out of range")
        return self.difat[index]

    def _next(self, sector: int) -> int:
        per = self.ss // 4
        index = sector // per
        data = self._fat_sectors.get(index)
        if data is None:
            data = self._read_sector(self._fat_sector_location(index))
            if len(data) < self.ss:
                raise _CfbError("truncated FAT")
            self._fat_sectors[index] = data
        return struct.unpack_from("<I", data, (sector % per) * 4)[0]

    def _chain(self, start: int, upto: int) -> list[int]:
        """The first ``upto + 1`` sectors of the chain from ``start`` (fewer if it ends)."""
        if start not in self._chains:
            self._chains[start] = ([start], {start}) if start < _MAXREGSECT else ([], set())
        chain, seen = self._chains[start]
        while chain and len(chain) <= upto:
            nxt = self._next(chain[-1])
            if nxt >= _MAXREGSECT:
                break
            if nxt in seen:
                raise _CfbError("sector chain loop")
            seen.add(nxt)
            chain.append(nxt)
        return chain

    def _read_chain(self, start: int, nbytes: int) -> bytes:
        count = -(-nbytes // self.ss)
        chain = self._chain(start, count - 1)[:count]
        return b"".join(self._read_sector(s) for s in chain)

    def directory(self, max_entries: int = 16 * KiB) -> list[tuple]:
        """Directory entries: (name, type, left, right, child, start sector, size)."""
        per = self.ss // 128
        data = self._read_chain(self.first_dir, min(max_entries // per, self.max_sectors) * self.ss)
        entries = []
        for offset in range(0, len(data) - 127, 128):
            raw = data[offset : offset + 128]
            (name_len,) = struct.unpack_from("<H", raw, 64)
            kind = raw[66]
            left, right, child = struct.unpack_from("<3I", raw, 68)
            start, size = struct.unpack_from("<IQ", raw, 116)
            if self.major == 3:
                size &= 0xFFFFFFFF
            name = raw[: min(name_len, 64)].decode("utf-16-le", "replace").rstrip("\x00")
            entries.append((name, kind, left, right, child, start, size))
        if not entries or entries[0][1] != 5:
            raise _CfbError("no root entry")
        return entries

    def root_streams(self) -> dict[str, tuple]:
        """The streams directly in the root storage, by lower-cased name."""
        entries = self.directory()
        found: dict[str, tuple] = {}
        stack, seen = [entries[0][4]], set()
        while stack:
            did = stack.pop()
            if did == _NOSTREAM or did >= len(entries) or did in seen:
                continue
            seen.add(did)
            entry = entries[did]
            if entry[1] == 2:
                found.setdefault(entry[0].lower(), entry)
            stack.extend((entry[2], entry[3]))
        self._root = entries[0]
        return found

    def read_stream_head(self, entry: tuple, nbytes: int) -> bytes:
        start, size = entry[5], entry[6]
        nbytes = min(nbytes, size)
        if nbytes <= 0:
            return b""
        if size >= self.mini_cutoff:
            return self._read_chain(start, nbytes)[:nbytes]
        # A small stream lives in the mini stream (the root entry's chain), 64-byte sectors
        # chained by the mini FAT.
        root_start = self._root[5]
        out = []
        mini = start
        per = self.ss // 4
        seen = set()
        while mini < _MAXREGSECT and sum(map(len, out)) < nbytes:
            if mini in seen:
                raise _CfbError("mini chain loop")
            seen.add(mini)
            position = mini * self.mini_ss
            container = self._chain(root_start, position // self.ss)
            if len(container) <= position // self.ss:
                raise _CfbError("mini stream too short")
            offset = self._sector_offset(container[position // self.ss]) + position % self.ss
            out.append(_read_at(self.fh, offset, self.mini_ss))
            minifat = self._chain(self.first_minifat, mini // per)
            if len(minifat) <= mini // per:
                raise _CfbError("mini FAT too short")
            at = self._sector_offset(minifat[mini // per]) + (mini % per) * 4
            data = _read_at(self.fh, at, 4)
            if len(data) < 4:
                raise _CfbError("truncated mini FAT")
            (mini,) = struct.unpack("<I", data)
        return b"".join(out)[:nbytes]


_BIFF_BOF = (0x0809, 0x0409, 0x0209, 0x0009)
_BIFF_FILEPASS = 0x002F
_BIFF_EOF = 0x000A


def _biff_has_filepass(data: bytes) -> bool:
    """Walk the records at the start of a BIFF globals substream looking for FILEPASS.

    FILEPASS sits right after BOF (after WRITEPROT at most); record headers stay clear text in
    an encrypted workbook, so walking them is reliable.
    """
    pos = 0
    for index in range(256):
        if pos + 4 > len(data):
            return False
        rtype, length = struct.unpack_from("<HH", data, pos)
        if index == 0 and rtype not in _BIFF_BOF:
            return False
        if rtype == _BIFF_FILEPASS:
            return True
        if rtype == _BIFF_EOF:
            return False
        pos += 4 + length
    return False


def _u16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _cfb_kind(fh: IO[bytes], size: int) -> str:
    """``ooxml-encrypted``, ``xls``, ``xls-encrypted`` or ``unknown`` for an OLE/CFB file."""
    try:
        cfb = _Cfb(fh, size)
        streams = cfb.root_streams()
    except Exception:  # _CfbError, struct.error... on a damaged container
        return _cfb_kind_by_bytes(fh, size)
    if "encryptioninfo" in streams or "encryptedpackage" in streams:
        return "ooxml-encrypted"
    workbook = streams.get("workbook") or streams.get("book")
    if workbook is None:
        return "unknown"
    try:
        head = cfb.read_stream_head(workbook, 8 * KiB)
    except Exception:
        return "xls"  # best effort: the reader will say what is wrong with it
    return "xls-encrypted" if _biff_has_filepass(head) else "xls"


def _cfb_kind_by_bytes(fh: IO[bytes], size: int) -> str:
    """Fallback for a CFB whose structure cannot be followed: look for the stream names."""
    window = 1 * MiB
    data = _read_at(fh, 0, window)
    if size > window:
        data += _read_at(fh, max(window, size - window), window)
    if _u16("EncryptionInfo") in data or _u16("EncryptedPackage") in data:
        return "ooxml-encrypted"
    if _u16("Workbook\x00") in data or _u16("Book\x00") in data:
        return "xls"
    return "unknown"


# --------------------------------------------------------------------------------------------
# Text


_TEXT_SAMPLE = 64 * KiB
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1a\x1b")


def _mostly_printable(text: str) -> bool:
    if not text:
        return False
    bad = sum(1 for ch in text if ch < " " and ch not in _ALLOWED_CONTROLS)
    return bad <= len(text) // 100


def _decode_sample(data: bytes, encoding: str) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError:
        return None


def _looks_like_text(head: bytes) -> bool:
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            text = _decode_sample(head[len(bom) :], encoding)
            return text is not None and (text == "" or _mostly_printable(text))
    if b"\x00" in head:
        # UTF-16 without a BOM: the NULs of ASCII characters all fall on one side.
        half = max(1, len(head) // 2)
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > half * 0.3 and even <= half * 0.02:
            encoding = "utf-16-le"
        elif even > half * 0.3 and odd <= half * 0.02:
            encoding = "utf-16-be"
        else:
            return False
        text = _decode_sample(head, encoding)
        return text is not None and _mostly_printable(text)
    text = _decode_sample(head, "utf-8")
    if text is None:
        text = head.decode("latin-1")  # any 8-bit code page: Windows-1252, Big5, Shift-JIS...
    return _mostly_printable(text)


def _is_markup(head: bytes) -> bool:
    """Text that is HTML or XML (an "Excel" export from a web app, SpreadsheetML 2003...)."""
    sample = head[:1024]
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
                          (codecs.BOM_UTF8, "utf-8")):
        if sample.startswith(bom):
            sample = sample[len(bom):].decode(encoding, "replace").encode("ascii", "replace")
            break
    sample = sample.lstrip().lower()
    return sample.startswith((b"<?xml", b"<html", b"<!doctype html", b"<table", b"<workbook"))


# --------------------------------------------------------------------------------------------
# Public API


def _sniff_open(fh: IO[bytes], size: int) -> str:
    if size == 0:
        return "empty"
    head = _read_at(fh, 0, _TEXT_SAMPLE)
    if head.startswith(ZIP_MAGICS):
        try:
            with zipfile.ZipFile(fh) as zf:
                return _zip_kind(zf)
        except Exception:
            return "zip-damaged"
    if head.startswith(CFB_MAGIC):
        return _cfb_kind(fh, size)
    return "text" if _looks_like_text(head) else "unknown"


def sniff(path: Path | str) -> str:
    """What the file at ``path`` really is, whatever its extension: one of :data:`KINDS`.

    Reads the first 64 KiB, and for a zip or OLE file its directory and a few small entries.
    It checks no limit: run :func:`check_workbook_file` on untrusted input instead.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        return _sniff_open(fh, os.fstat(fh.fileno()).st_size)


def check_workbook_file(path: Path | str, limits: Limits = Limits(), *,
                        display_name: str | None = None, extents: bool = True) -> str:
    """Refuse a file that is not a workbook we can read safely; return its kind if it is one.

    Returns ``"ooxml"``, ``"xls"`` or ``"ods"`` (what :func:`sniff` finds, whatever the file's
    extension). Raises :class:`LimitExceeded`, :class:`EncryptedFile` or
    :class:`UnreadableFile`, each with a one-line message that starts with ``display_name``
    (default: the file name, never its directory). With ``extents=False`` an OOXML workbook's
    worksheets are not measured: the caller runs :func:`check_sheet_extents` itself, before any
    reader's result is used.
    """
    path = Path(path)
    name = _display(path, display_name)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnreadableFile(f"{name}: the file does not exist", file=name) from None
    except OSError as exc:
        raise UnreadableFile(f"{name}: cannot be opened ({exc.strerror})", file=name) from None
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableFile(f"{name}: is not a regular file", file=name)
    _check_file_size(name, st.st_size, limits)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise UnreadableFile(f"{name}: cannot be opened ({exc.strerror})", file=name) from None
    with fh:
        size = os.fstat(fh.fileno()).st_size  # the file may have changed since stat()
        _check_file_size(name, size, limits)
        if size == 0:
            raise UnreadableFile(f"{name}: is empty", file=name,
                                 hint="check that the upload or copy completed")
        head = fh.read(_TEXT_SAMPLE)
        if head.startswith(ZIP_MAGICS):
            return _check_zip(fh, size, limits, name, extents)
        if head.startswith(CFB_MAGIC):
            kind = _cfb_kind(fh, size)
            if kind in ("ooxml-encrypted", "xls-encrypted"):
                raise EncryptedFile(f"{name}: {ENCRYPTED_MESSAGE}", file=name)
            if kind == "xls":
                _check_biff_extents(fh, size, limits, name)
                return kind
            raise UnreadableFile(
                f"{name}: is not an Excel workbook (an OLE2 container without a workbook "
                "stream: another Office document, or a damaged file)", file=name,
            )
        if _looks_like_text(head):
            if _is_markup(head):
                raise UnreadableFile(
                    f"{name}: is a text file (HTML/XML markup), not an Excel workbook", file=name,
                    hint="open it in Excel and save it as .xlsx",
                )
            raise UnreadableFile(
                f"{name}: is a text/CSV file, not an Excel workbook", file=name,
                hint="open it in Excel and save it as .xlsx",
            )
        raise UnreadableFile(f"{name}: is not an Excel workbook", file=name)


def _check_file_size(name: str, size: int, limits: Limits) -> None:
    if size > limits.max_file_bytes:
        raise _limit_error(name, f"the file is {_size(size)}", "max_file_bytes",
                           _size(limits.max_file_bytes))


def _check_zip(fh: IO[bytes], size: int, limits: Limits, name: str, extents: bool = True) -> str:
    # 1. Count the central directory before zipfile builds an object per entry.
    counted = _count_central_directory(fh, size, limits.max_zip_entries + 1)
    if counted is not None and counted > limits.max_zip_entries:
        raise _limit_error(name, f"the zip holds more than {limits.max_zip_entries:,} entries",
                           "max_zip_entries", f"{limits.max_zip_entries:,}")
    try:
        zf = zipfile.ZipFile(fh)
    except Exception as exc:  # fuzzed input makes zipfile raise many things
        raise _damaged(name, exc) from None
    with zf:
        try:
            return _check_zip_entries(zf, limits, name, extents)
        except PipelineError:
            raise
        except Exception as exc:  # anything else a fuzzed directory provokes: fail closed
            raise _damaged(name, exc) from None


def _check_zip_entries(zf: zipfile.ZipFile, limits: Limits, name: str, extents: bool = True) -> str:
    infos = zf.infolist()
    if len(infos) > limits.max_zip_entries:
        raise _limit_error(name, f"the zip holds {len(infos):,} entries", "max_zip_entries",
                           f"{limits.max_zip_entries:,}")
    _check_entry_names(name, infos)
    _check_sizes(name, zf, infos, limits)
    try:
        kind = _zip_kind(zf)
    except _ZipReadError as exc:
        raise _damaged(name, exc) from None
    if kind == "ods-encrypted":
        raise EncryptedFile(f"{name}: {ENCRYPTED_MESSAGE}", file=name)
    if kind == "zip-other":
        extra = (" (an .xlsb binary workbook, which cannot be read)" if _is_xlsb(zf) else "")
        raise UnreadableFile(
            f"{name}: is a zip file but not an Excel workbook{extra}", file=name,
            hint="save it from Excel as .xlsx",
        )
    _check_xml_parts(zf, kind, name)
    if extents or kind != "ooxml":
        _check_extents(zf, kind, limits, name)
    return kind


def check_sheet_extents(path: Path | str, limits: Limits = Limits(), *, display_name: str | None = None) -> list:
    """The part of :func:`check_workbook_file` that ``extents=False`` leaves out, for an OOXML
    workbook that check has passed: refuse a worksheet whose far cells would pad millions of
    empty cells. Returns every worksheet's :class:`~ops_pipeline.readers.extent.Extent` (which
    also says whether the sheet holds error cells: the same scan finds them)."""
    path = Path(path)
    name = _display(path, display_name)
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:
        raise _damaged(name, exc) from None
    with zf:
        return _check_extents(zf, "ooxml", limits, name)


def _check_xml_parts(zf: zipfile.ZipFile, kind: str, name: str) -> None:
    for info in _xml_parts_to_scan(zf, kind):
        try:
            found = scan_xml_for_entities(zf, info)
        except zipfile.BadZipFile as exc:
            raise _damaged(name, exc) from None
        if found and found.startswith("<!"):
            raise UnreadableFile(
                f"{name}: {DTD_MESSAGE} in {_clip(info.filename, 80)} ({found})", file=name,
            )
        if found:
            raise UnreadableFile(
                f"{name}: is not a readable workbook ({_clip(info.filename, 80)}: {found})",
                file=name,
            )


def _check_biff_extents(fh: IO[bytes], size: int, limits: Limits, name: str) -> None:
    """:func:`_check_extents` for an .xls (a worksheet's cells fill at most 65,536 x 256)."""
    from .extent import biff_extents

    try:
        cfb = _Cfb(fh, size)
        streams = cfb.root_streams()
        entry = streams.get("workbook") or streams.get("book")
        stream = cfb.read_stream_head(entry, min(entry[6], limits.max_file_bytes)) if entry else b""
        extents = biff_extents(stream)
    except Exception:  # noqa: BLE001 - a container we cannot follow: the reader says what is wrong
        return
    _refuse_padded(extents, limits, name)


def _check_extents(zf: zipfile.ZipFile, kind: str, limits: Limits, name: str) -> list:
    """Refuse a sheet whose farthest cell lies far beyond its data: both readers would pad it
    (calamine allocates every cell from A1 to there, openpyxl gives every row up to there)."""
    from .extent import ods_extents, sheet_extents

    try:
        extents = sheet_extents(zf) if kind == "ooxml" else ods_extents(zf)
    except Exception as exc:  # a part that cannot be inflated: the zip is damaged
        raise _damaged(name, exc) from None
    _refuse_padded(extents, limits, name, zf if kind == "ooxml" else None)
    return extents


def _refuse_padded(extents, limits: Limits, name: str, zf: zipfile.ZipFile | None = None) -> None:
    from .extent import scan_extent

    for extent in extents:
        allowed = limits.max_empty_cells + 4 * extent.cells
        if extent.empty_cells <= allowed:
            continue
        if zf is not None and not extent.exact:
            # A quick bound over the limit: the exact scan decides, and names the cell.
            extent = scan_extent(zf, zf.getinfo(extent.part), extent.sheet)
            allowed = limits.max_empty_cells + 4 * extent.cells
            if extent.empty_cells <= allowed:
                continue
        raise LimitExceeded(
            f"its farthest cell is {extent.far_cell} but only {extent.cells:,} cells hold data: reading "
            f"it would pad {extent.empty_cells:,} empty cells, over the limit of {allowed:,} "
            f"(max_empty_cells; set {ENV_VARS['max_empty_cells']} to raise it)",
            file=name, sheet=_clip(extent.sheet or extent.part, 80),
            hint=f"clear the stray cells near {extent.far_cell} (Ctrl+End in Excel finds the last one) "
                 "and save it again",
        )


def _check_entry_names(name: str, infos: list[zipfile.ZipInfo]) -> None:
    seen: dict[str, str] = {}
    for info in infos:
        raw = info.filename
        if not raw:
            raise _damaged(name, "an entry has no name")
        path = raw.replace("\\", "/")
        if (path.startswith("/") or re.match(r"[A-Za-z]:", path)
                or ".." in path.split("/")):
            raise UnreadableFile(
                f"{name}: is not a readable workbook (unsafe zip entry name {_clip(raw, 80)!r}: "
                "absolute or with '..')", file=name,
            )
        if info.flag_bits & 0x1:
            raise EncryptedFile(f"{name}: {ENCRYPTED_MESSAGE}", file=name)
        if raw.endswith("/"):
            continue
        key = _norm(raw)
        if key in seen:
            other = seen[key]
            what = (f"{_clip(raw, 80)} twice" if other == raw
                    else f"both {_clip(other, 80)} and {_clip(raw, 80)}")
            raise UnreadableFile(
                f"{name}: is not a readable workbook (ambiguous: the zip holds {what})", file=name,
                hint="a damaged or tampered file: ask the sender for a new copy",
            )
        seen[key] = raw


def _check_sizes(name: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo],
                 limits: Limits) -> None:
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        raise _limit_error(name, f"the workbook unpacks to {_size(total)}",
                           "max_uncompressed_bytes", _size(limits.max_uncompressed_bytes))
    ratio_limit = limits.max_compression_ratio
    for info in infos:
        if (info.file_size > limits.ratio_min_bytes
                and info.file_size > ratio_limit * max(info.compress_size, 1)):
            ratio = info.file_size / max(info.compress_size, 1)
            raise _limit_error(
                name, f"zip entry {_clip(info.filename, 80)} expands {ratio:,.0f}x "
                f"({_size(info.compress_size)} to {_size(info.file_size)}; possible zip bomb)",
                "max_compression_ratio", f"{ratio_limit}x",
            )
    if total > limits.ratio_min_bytes and total > ratio_limit * max(packed, 1):
        raise _limit_error(
            name, f"the zip expands {total / max(packed, 1):,.0f}x ({_size(packed)} to "
            f"{_size(total)}; possible zip bomb)", "max_compression_ratio", f"{ratio_limit}x",
        )
    # Entries whose data overlap (a non-recursive zip bomb reuses one compressed kernel for
    # many entries). Lower bound of an entry's extent: 30-byte local header + its data.
    start_dir = getattr(zf, "start_dir", None)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, following in zip(ordered, ordered[1:] + [None]):
        end = current.header_offset + 30 + current.compress_size
        limit = following.header_offset if following is not None else start_dir
        if limit is not None and end > limit:
            raise _damaged(name, f"entry {_clip(current.filename, 80)} overlaps "
                                 + ("the next entry" if following is not None
                                    else "the central directory"))

"""Streaming parsers of Selling Partner report documents: TSV/CSV flat files, JSON and XML.

Reports are kept in raw exactly as Amazon delivered them (often gzip-compressed); these parsers
read such a file back one record at a time with bounded memory, whatever its size, so row
counts, previews and the clean layer never load a whole report. A gzip file is recognised by
its magic bytes, not by its name.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal

import ijson

from adlake.connectors.selling_partner.errors import DocumentError
from adlake.connectors.selling_partner.spec import (
    MAX_MARKETPLACES,
    report_columns,
    report_format,
)

__all__ = ["MAX_MARKETPLACES", "is_gzip", "iter_records", "report_columns", "report_format"]

GZIP_MAGIC = b"\x1f\x8b"
_DELIMITERS = {"tsv": "\t", "csv": ","}


def is_gzip(path: Path) -> bool:
    """Whether a file starts with the gzip magic bytes (compressionAlgorithm=GZIP documents)."""
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def iter_records(
    path: Path,
    fmt: Literal["tsv", "csv", "json", "xml"],
    *,
    record_path: str | None = None,
    encoding: str = "utf-8",
) -> Iterator[dict[str, Any]]:
    """Yield the records of a report document one by one, gunzipping it when it is gzip.

    - ``tsv``: Amazon flat files, tab-separated with a header row and no quoting; ``csv``:
      comma-separated with a header row and RFC 4180 quoting (quoted newlines allowed). Each
      record maps header name to the raw string. ``encoding`` is the text encoding (some
      marketplaces deliver cp1252 or latin-1); a UTF-8 byte-order mark is ignored.
    - ``json``: the items of the array at ``record_path`` (dotted, e.g.
      ``"salesAndTrafficByDate"``), or of the top-level array when it is None. Nested objects
      stay nested; numbers come back as int or float, never Decimal.
    - ``xml``: every element whose tag (namespace ignored) is ``record_path``, as a dict of
      child tag to text; children with children become nested dicts, repeated children lists,
      attributes ``@name`` keys and mixed text ``#text``. Elements are freed as they are read.

    An empty file, or a flat file with only its header, yields nothing. A malformed document
    raises DocumentError naming the file and, where known, the line.
    """
    if fmt not in ("tsv", "csv", "json", "xml"):
        raise ValueError(f"unknown report document format {fmt!r}; use tsv, csv, json or xml")
    if fmt == "xml" and not record_path:
        raise ValueError("XML report documents need record_path: the tag of the record element")
    with _open_document(path) as stream:
        try:
            if fmt in _DELIMITERS:
                yield from _iter_delimited(stream, path, fmt, encoding)
            elif fmt == "json":
                yield from _iter_json(stream, path, record_path)
            else:
                yield from _iter_xml(stream, path, record_path or "")
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DocumentError(
                path, None, f"the gzip stream is damaged or cut short ({exc})"
            ) from None


@contextmanager
def _open_document(path: Path) -> Iterator[BinaryIO]:
    """The file as a binary stream, decompressed on the fly when it starts with gzip magic."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw


def _codec(encoding: str) -> str:
    """The codec to decode with: UTF-8 variants skip a byte-order mark; unknown names fail."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r}; use e.g. utf-8 or cp1252") from None
    return "utf-8-sig" if name == "utf-8" else name


def _iter_delimited(
    stream: BinaryIO, path: Path, fmt: str, encoding: str
) -> Iterator[dict[str, str]]:
    """Records of a delimited flat file with a header row; every row must match its width."""
    reader = csv.reader(
        _decoded_lines(stream, _codec(encoding)),
        delimiter=_DELIMITERS[fmt],
        quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL,
        strict=fmt == "csv",
    )
    try:
        header = next(reader, None)
        if header is None:
            return
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise DocumentError(path, 1, f"the header names {', '.join(duplicates)} twice")
        width = len(header)
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise DocumentError(
                    path, reader.line_num, f"{len(row)} fields where the header has {width}"
                )
            yield dict(zip(header, row, strict=True))
    except UnicodeDecodeError as exc:
        raise DocumentError(
            path, reader.line_num + 1, f"text is not valid {encoding} ({exc.reason})"
        ) from None
    except csv.Error as exc:
        raise DocumentError(path, reader.line_num, f"not valid {fmt.upper()} ({exc})") from None


def _decoded_lines(stream: BinaryIO, codec: str) -> Iterator[str]:
    """The stream's lines, each decoded alone so a decoding error points at its line.

    Safe for every ASCII-compatible encoding (UTF-8, cp1252, latin-1, Shift_JIS); UTF-16 and
    UTF-32 are decoded as one stream instead, with approximate line numbers.
    """
    if codec.startswith(("utf-16", "utf-32")):
        yield from io.TextIOWrapper(stream, encoding=codec, newline="")
        return
    yield from map(codecs.getincrementaldecoder(codec)().decode, stream)


def _iter_json(stream: BinaryIO, path: Path, record_path: str | None) -> Iterator[dict[str, Any]]:
    """The objects of one array of a JSON document, streamed with ijson."""
    if not _peek(stream):
        return
    prefix = f"{record_path}.item" if record_path else "item"
    try:
        for index, record in enumerate(ijson.items(stream, prefix, use_float=True)):
            if not isinstance(record, dict):
                raise DocumentError(
                    path, None, f"item {index} of {prefix!r} is {type(record).__name__}, not object"
                )
            yield record
    except ijson.JSONError as exc:
        raise DocumentError(path, None, f"not valid JSON ({exc})") from None


def _peek(stream: BinaryIO) -> bytes:
    """Some of the stream's next bytes without consuming them (b"" at end of file)."""
    return stream.peek(1)  # type: ignore[attr-defined]


def _local(tag: str) -> str:
    """An XML tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _iter_xml(stream: BinaryIO, path: Path, record_tag: str) -> Iterator[dict[str, Any]]:
    """The record elements of an XML document; every finished element is detached and freed."""
    if not _peek(stream):
        return
    ancestors: list[ET.Element] = []
    depth = 0
    events = ET.iterparse(stream, events=("start", "end"))
    try:
        for event, element in events:
            if event == "start":
                ancestors.append(element)
                if _local(element.tag) == record_tag:
                    depth += 1
                continue
            ancestors.pop()
            if _local(element.tag) == record_tag:
                depth -= 1
                if depth == 0:
                    yield _element_dict(element)
            if depth == 0:
                element.clear()
                if ancestors:
                    ancestors[-1].remove(element)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise DocumentError(path, line, f"not well-formed XML ({exc})") from None


def _element_value(element: ET.Element) -> Any:
    """A leaf without attributes is its text; anything else is a dict."""
    if len(element) == 0 and not element.attrib:
        return element.text or ""
    return _element_dict(element)


def _element_dict(element: ET.Element) -> dict[str, Any]:
    """An element's attributes, children and non-blank text as a dict."""
    result: dict[str, Any] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    for child in element:
        key = _local(child.tag)
        value = _element_value(child)
        if key not in result:
            result[key] = value
        elif isinstance(result[key], list):
            result[key].append(value)
        else:
            result[key] = [result[key], value]
    text = (element.text or "").strip()
    if text:
        result["#text"] = element.text
    return result

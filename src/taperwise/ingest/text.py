"""Source bytes → text for the ingest readers, one record at a time, so that one bad record is one problem.

A file is read as bytes and decoded record by record: a byte that is not UTF-8 makes that record (an
NDJSON line, a CSV row) a ``bad_encoding`` problem, and the next record is read. A UTF-8 byte-order mark
at the start of a file is accepted and dropped. JSON nested more deeply than `MAX_JSON_DEPTH` is refused
before it is parsed (``nested_too_deep``): Python's parser recurses once per level, and no FHIR resource
comes near that depth, so the check costs a count of brackets and never a deep recursion.

CSV files go through DuckDB, which stops at the first byte that is not UTF-8. `utf8_csv` therefore checks
a file once, streaming; a file that is UTF-8 throughout (nearly every file) is read as it is, and only a
file that is not is copied with each undecodable run of bytes replaced by `BAD_BYTES`, so that the reader
finds the rows holding it and reports them. A header row holding such bytes refuses the file: without
its column names no row can be read.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from taperwise.errors import UnusableInputError

BOM = codecs.BOM_UTF8
MAX_JSON_DEPTH = 100
# Never in real data: marks where a CSV row held bytes that are not UTF-8 (in a copy of the file only).
BAD_BYTES = "\u2400not-utf-8\u2400"
CHUNK = 1 << 20

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_ERRORS = "taperwise-bad-bytes"


def _mark(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return BAD_BYTES, exc.end


codecs.register_error(_ERRORS, _mark)


@dataclass(frozen=True)
class RecordProblem:
    """Why one record (a line, a document) cannot be read: a `Problem` kind and a sentence."""

    kind: str
    message: str


def decode(raw: bytes) -> tuple[str | None, RecordProblem | None]:
    """`raw` as UTF-8 text, or why it is not (naming the first bad byte and where it is)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        byte = raw[exc.start : exc.start + 1].hex()
        return None, RecordProblem(
            "bad_encoding",
            f"byte 0x{byte} at position {exc.start + 1} is not UTF-8 text (save the export as UTF-8)",
        )


def json_depth(raw: bytes) -> int:
    """How deeply `raw` nests arrays and objects (brackets inside strings not counted).

    Cheap for ordinary records: when the line holds fewer brackets than MAX_JSON_DEPTH, that count bounds
    the depth and nothing else is done.
    """
    opening = raw.count(b"[") + raw.count(b"{")
    if opening <= MAX_JSON_DEPTH:
        return opening
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[c] for c in brackets), default=0)


def parse_json(raw: bytes) -> tuple[Any, RecordProblem | None]:
    """One JSON text (a line, or a whole document) as a Python value, or why it is not one."""
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    text, problem = decode(raw)
    if text is None:
        return None, problem
    if json_depth(raw) > MAX_JSON_DEPTH:
        return None, RecordProblem(
            "nested_too_deep", f"arrays or objects nested more than {MAX_JSON_DEPTH} deep; not read"
        )
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, RecordProblem("malformed_json", f"not valid JSON ({exc.args[0] if exc.args else exc})")
    except RecursionError:  # not reached after the depth check; kept so that no traceback can escape
        return None, RecordProblem("nested_too_deep", "arrays or objects nested too deeply; not read")


def _open_bytes(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def utf8_csv(path: Path, folder: Path) -> Path | None:
    """None when `path` is UTF-8 throughout; else a copy in `folder`, uncompressed, with `BAD_BYTES` where
    the bytes were not UTF-8 (a byte-order mark kept). Raises UnusableInputError when the header row holds
    such bytes, or the file cannot be read."""
    try:
        with _open_bytes(path) as handle:
            checker = codecs.getincrementaldecoder("utf-8")()
            try:
                while chunk := handle.read(CHUNK):
                    checker.decode(chunk)
                checker.decode(b"", final=True)
                return None
            except UnicodeDecodeError:
                pass
        suffix = ".tsv" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ".csv"
        copy = folder / f"{path.name}.utf8{suffix}"
        decoder = codecs.getincrementaldecoder("utf-8")(errors=_ERRORS)
        with _open_bytes(path) as handle, copy.open("w", encoding="utf-8", newline="") as out:
            while chunk := handle.read(CHUNK):
                out.write(decoder.decode(chunk))
            out.write(decoder.decode(b"", final=True))
        with copy.open(encoding="utf-8", newline="") as written:
            header = written.readline()
        if BAD_BYTES in header:
            raise UnusableInputError(
                f"{path}: the header row holds bytes that are not UTF-8 text, so its columns cannot be "
                "named (save the file as UTF-8)"
            )
        return copy
    except (OSError, EOFError) as exc:
        raise UnusableInputError(f"{path}: cannot be read ({exc})") from exc


def bad_columns(row: dict[str, str | None]) -> list[str]:
    """The columns of a row read from a `utf8_csv` copy that held bytes that are not UTF-8."""
    return [name for name, value in row.items() if value is not None and BAD_BYTES in value]


def shown(value: str | None) -> str:
    """A value from a `utf8_csv` copy as a message shows it: each undecodable run as U+FFFD."""
    return (value or "").replace(BAD_BYTES, "\ufffd")

"""Ranking inputs: runs and relevance judgments (qrels) read from files, as trec_eval reads them.

The forms (``read_run``, ``read_qrels``; recognised from the content):

- a TREC run, ``qid Q0 docno rank score tag`` per line, whitespace separated (more columns are
  ignored, as trec_eval does); the rank column is ignored: documents are ordered by score;
- a TREC qrels file, ``qid iter docno rel``; ``rel`` is read as C's ``atol`` does (``2.7`` is 2);
- an MS MARCO run, ``qid<TAB>pid<TAB>rank`` (three fields, no score): documents are ordered by rank, as
  if each scored ``-rank`` (a whole number from 1 to 2**24 - 1; equal ranks tie and fall back to docno
  descending, as equal scores do);
- the ``{qid: {docno: score}}`` JSON of pytrec_eval and BEIR, for runs and for qrels;
- BEIR's qrels TSV, ``query-id corpus-id score`` with that header.

Blank lines are skipped. Scores are 32-bit floats (``0.50000001`` and ``0.5`` tie); a relevance grade is
read as C's ``atol`` does. How a run is then ordered and scored is ``ranking``'s.

Speed and memory: nothing loops per line in Python. A file is tokenised in blocks of about
``_BLOCK_BYTES`` with numpy; each query id and docno becomes a fixed-width byte string (as wide as the
longest one, at most ``MAX_ID_BYTES``). A run of ``n`` lines then holds about
``n * (qid width + docno width + 50)`` bytes besides the file itself (5 M lines of 16-byte docnos:
about 400 MB at the peak of the sort); the file size is bounded by the caller's parse limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runnotary.registry.errors import ArtifactError, ArtifactTooLarge

__all__ = ["MAX_ID_BYTES", "Qrels", "Run", "parse_qrels", "parse_run", "read_qrels", "read_run"]

#: The longest query id or docno accepted, in bytes (each id is stored at the longest one's width).
MAX_ID_BYTES = 256
_BLOCK_BYTES = 8 << 20
_MAX_RANK = 1 << 24  # an MS MARCO rank becomes the score -rank, exact in float32 below 2**24
_BEIR_HEADER = (b"query-id", b"corpus-id", b"score")
_NON_SPACE = re.compile(rb"[^\t\n\v\f\r ]")


@dataclass(frozen=True)
class Run:
    """A parsed run: one row per retrieved document, in file order (``lines`` are 1-based, 0 for JSON)."""

    name: str
    qids: np.ndarray  # bytes (S), one per row
    docnos: np.ndarray  # bytes (S)
    scores: np.ndarray  # float32
    lines: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.scores.shape[0])


@dataclass(frozen=True)
class Qrels:
    """Parsed relevance judgments: one row per judged document (``grades`` as trec_eval's ``atol``)."""

    name: str
    qids: np.ndarray
    docnos: np.ndarray
    grades: np.ndarray  # int64
    lines: np.ndarray

    def __len__(self) -> int:
        return int(self.grades.shape[0])



def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ArtifactTooLarge(f"{path.name}: {size} bytes, over the parse limit of {max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path.name}: cannot be read: {exc.strerror or exc.__class__.__name__}") from exc


def read_run(path: Path, max_bytes: int) -> Run:
    """Parse a run file (TREC run or ``{qid: {docno: score}}`` JSON), refusing files over ``max_bytes``."""
    return parse_run(_read_bytes(path, max_bytes), path.name)


def read_qrels(path: Path, max_bytes: int) -> Qrels:
    """Parse a qrels file (TREC qrels, BEIR TSV or ``{qid: {docno: grade}}`` JSON)."""
    return parse_qrels(_read_bytes(path, max_bytes), path.name)


def _first_byte(data: bytes) -> int:
    """Where the first non-whitespace byte is (``len(data)`` when there is none)."""
    found = _NON_SPACE.search(data)
    return found.start() if found else len(data)


def parse_run(data: bytes, name: str) -> Run:
    begin = _first_byte(data)
    if data[begin:begin + 1] == b"{":
        qids, docnos, values = _json_triples(data, name, "score")
        scores = _scores(np.asarray(values, dtype=np.float64), name, np.zeros(len(values), np.int64))
        return Run(name, qids, docnos, scores, np.zeros(len(scores), np.int64))
    first_line = data[begin:data.find(b"\n", begin) if b"\n" in data[begin:] else len(data)]
    if len(first_line.split()) == 3:  # MS MARCO: qid, pid, rank; no score
        fields, lines = _columns(data, name, (0, 1, 2), min_fields=3, max_fields=3, what="an MS MARCO run line "
                                 "('qid pid rank')")
        ranks = _floats(fields[2], name, lines, "rank")
        bad = (ranks < 1) | (ranks != np.floor(ranks)) | (ranks >= _MAX_RANK)
        if bad.any():
            at = int(np.argmax(bad))
            raise ArtifactError(f"{name}:{lines[at]}: the rank {fields[2][at][:40]!r} is not a whole number from 1 "
                                f"to {_MAX_RANK - 1}")
        return Run(name, fields[0], fields[1], _scores(-ranks, name, lines), lines)
    fields, lines = _columns(data, name, (0, 2, 4), min_fields=6, max_fields=None, what="a TREC run line "
                             "('qid Q0 docno rank score tag')")
    scores = _scores(_floats(fields[2], name, lines, "score"), name, lines)
    return Run(name, fields[0], fields[1], scores, lines)


def parse_qrels(data: bytes, name: str) -> Qrels:
    begin = _first_byte(data)
    if data[begin:begin + 1] == b"{":
        qids, docnos, values = _json_triples(data, name, "grade")
        grades = np.trunc(np.asarray(values, dtype=np.float64)).astype(np.int64)
        return Qrels(name, qids, docnos, grades, np.zeros(len(grades), np.int64))
    header_end = data.find(b"\n", begin)
    header_end = len(data) if header_end < 0 else header_end + 1
    if tuple(data[begin:header_end].split()) == _BEIR_HEADER:
        start, skipped = header_end, data[:header_end].count(b"\n")
        fields, lines = _columns(data[start:], name, (0, 1, 2), min_fields=3, max_fields=3,
                                 what="a BEIR qrels line ('query-id corpus-id score')", line_offset=skipped)
        grade_field = fields[2]
    else:
        fields, lines = _columns(data, name, (0, 2, 3), min_fields=4, max_fields=4,
                                 what="a TREC qrels line ('qid iter docno rel')")
        grade_field = fields[2]
    return Qrels(name, fields[0], fields[1], _atol(grade_field, name, lines), lines)


def _json_triples(data: bytes, name: str, what: str) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """``{qid: {docno: number}}`` as three parallel columns; a repeated key is refused (JSON keeps the last)."""
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ArtifactError(f"{name}: the key {key[:80]!r} appears twice in one object")
            out[key] = value
        return out

    try:
        parsed = json.loads(data, object_pairs_hook=no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(f"{name}: not valid JSON ({exc.__class__.__name__})") from exc
    if not isinstance(parsed, dict):
        raise ArtifactError(f"{name}: expected a JSON object {{qid: {{docno: {what}}}}}")
    qids: list[bytes] = []
    docnos: list[bytes] = []
    values: list[float] = []
    for qid, docs in parsed.items():
        if not isinstance(docs, dict):
            raise ArtifactError(f"{name}: query {qid[:80]!r} must map docnos to numbers")
        for docno, value in docs.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ArtifactError(f"{name}: query {qid[:80]!r}, document {docno[:80]!r}: the {what} is not a number")
            qids.append(qid.encode())
            docnos.append(docno.encode())
            values.append(float(value))
    for column, label in ((qids, "query id"), (docnos, "docno")):
        _check_ids(column, name, label)
    return _bytes_array(qids), _bytes_array(docnos), values


def _check_ids(column: list[bytes], name: str, label: str) -> None:
    bad = next((v for v in column if not v or len(v) > MAX_ID_BYTES or b"\x00" in v or len(v.split()) != 1), None)
    if bad is not None:
        raise ArtifactError(f"{name}: {label} {bad[:80]!r} is empty, holds whitespace or NUL, or is over {MAX_ID_BYTES} bytes")


def _bytes_array(values: list[bytes]) -> np.ndarray:
    return np.array(values, dtype=f"S{max((len(v) for v in values), default=1)}")


def _columns(
    data: bytes, name: str, wanted: tuple[int, ...], *, min_fields: int, max_fields: int | None, what: str,
    line_offset: int = 0,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The ``wanted`` whitespace-separated fields of every non-blank line as byte-string columns, and
    each row's line number. Lines are processed in blocks, so temporaries stay near ``_BLOCK_BYTES``."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1 + line_offset
        raise ArtifactError(f"{name}:{line}: NUL byte")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    parts: list[list[np.ndarray]] = [[] for _ in wanted]
    line_parts: list[np.ndarray] = []
    begin, line = 0, line_offset
    while begin < len(data):
        end = data.rfind(b"\n", begin, begin + _BLOCK_BYTES) + 1
        if end <= begin:  # a single line longer than a block
            end = data.index(b"\n", begin) + 1
        buf = np.frombuffer(data, dtype=np.uint8, count=end - begin, offset=begin)
        columns, lines = _block(buf, name, wanted, min_fields, max_fields, what, line)
        for part, column in zip(parts, columns):
            part.append(column)
        line_parts.append(lines)
        line += int(np.count_nonzero(buf == 10))
        begin = end
    if not line_parts or sum(len(p) for p in line_parts) == 0:
        raise ArtifactError(f"{name}: no data lines")
    return [np.concatenate(part) for part in parts], np.concatenate(line_parts)


def _block(
    buf: np.ndarray, name: str, wanted: tuple[int, ...], min_fields: int, max_fields: int | None, what: str,
    line_offset: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    space = (buf == 32) | ((buf >= 9) & (buf <= 13))  # C's isspace
    token = ~space
    starts_mask = token.copy()
    starts_mask[1:] &= space[:-1]
    ends_mask = token
    ends_mask[:-1] &= space[1:]
    starts = np.flatnonzero(starts_mask)
    ends = np.flatnonzero(ends_mask) + 1
    newlines = np.flatnonzero(buf == 10)
    before = np.searchsorted(starts, newlines)  # tokens started before each newline
    counts = np.diff(before, prepend=0)
    numbers = np.arange(line_offset + 1, line_offset + 1 + len(newlines), dtype=np.int64)
    bad = (counts > 0) & ((counts < min_fields) | ((counts > max_fields) if max_fields is not None else False))
    if bad.any():
        at = int(np.argmax(bad))
        raise ArtifactError(f"{name}:{numbers[at]}: malformed line ({int(counts[at])} fields), expected {what}")
    data_lines = counts > 0
    first = (before - counts)[data_lines]
    columns = []
    for j in wanted:
        tokens = first + j
        columns.append(_padded(buf, starts[tokens], ends[tokens] - starts[tokens], name, numbers[data_lines]))
    return columns, numbers[data_lines]


def _padded(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, name: str, lines: np.ndarray) -> np.ndarray:
    """The tokens as one fixed-width byte-string array (NUL-padded: compares as ``strcmp`` does)."""
    if len(starts) == 0:
        return np.zeros(0, dtype="S1")
    width = int(lengths.max())
    if width > MAX_ID_BYTES:
        at = int(np.argmax(lengths > MAX_ID_BYTES))
        raise ArtifactError(f"{name}:{lines[at]}: a field of {int(lengths[at])} bytes, over the {MAX_ID_BYTES} accepted")
    # Each token's row is one slice of a sliding window over the block (a row copy, not a byte gather);
    # the block is padded so the last windows fit.
    padded = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    matrix = np.lib.stride_tricks.sliding_window_view(padded, width)[starts]
    matrix *= np.arange(width, dtype=np.int64) < lengths[:, None]
    return np.ascontiguousarray(matrix).view(f"S{width}").ravel()


def _floats(column: np.ndarray, name: str, lines: np.ndarray, label: str) -> np.ndarray:
    try:
        return column.astype(np.float64)
    except ValueError:
        pass
    for value, line in zip(column.tolist(), lines.tolist()):
        try:
            float(value)
        except ValueError as exc:
            raise ArtifactError(f"{name}:{line}: the {label} {value[:40]!r} is not a number") from exc
    raise ArtifactError(f"{name}: the {label} column is not numeric")


def _scores(values: np.ndarray, name: str, lines: np.ndarray) -> np.ndarray:
    """Scores as trec_eval 9.0.8 keeps them: 32-bit floats (``-0.0`` made ``0.0``: C compares them equal)."""
    if np.isnan(values).any():
        at = int(np.argmax(np.isnan(values)))
        raise ArtifactError(f"{name}:{lines[at]}: the score is NaN")
    with np.errstate(over="ignore"):
        return values.astype(np.float32) + np.float32(0.0)


_ATOL_CHARS = np.zeros(256, dtype=bool)
_ATOL_CHARS[list(b"0123456789+-.")] = True
_ATOL_CHARS[0] = True  # padding


def _atol(column: np.ndarray, name: str, lines: np.ndarray) -> np.ndarray:
    """Grades as C's ``atol`` reads a decimal: the integer part (``2.7`` is 2, ``-1`` is -1)."""
    raw = column.view(np.uint8).reshape(len(column), -1) if len(column) else np.zeros((0, 1), np.uint8)
    ok = _ATOL_CHARS[raw].all(axis=1)
    if not ok.all():
        at = int(np.argmax(~ok))
        raise ArtifactError(f"{name}:{lines[at]}: the relevance {column[at][:40]!r} is not a decimal number")
    values = np.trunc(_floats(column, name, lines, "relevance"))
    if (np.abs(values) > 2**31).any():
        at = int(np.argmax(np.abs(values) > 2**31))
        raise ArtifactError(f"{name}:{lines[at]}: the relevance {column[at][:40]!r} is out of range")
    return values.astype(np.int64)


"""Ranking metrics from a run and its relevance judgments, exactly as trec_eval 9.0.8 computes them.

Files (``read_run``, ``read_qrels``; the form is recognised from the content):

- a TREC run, ``qid Q0 docno rank score tag`` per line, whitespace separated (more columns are
  ignored, as trec_eval does); the rank column is ignored: documents are ordered by score;
- a TREC qrels file, ``qid iter docno rel``; ``rel`` is read as C's ``atol`` does (``2.7`` is 2);
- an MS MARCO run, ``qid<TAB>pid<TAB>rank`` (three fields, no score): documents are ordered by rank, as
  if each scored ``-rank`` (a whole number from 1 to 2**24 - 1; equal ranks tie and fall back to docno
  descending, as equal scores do);
- the ``{qid: {docno: score}}`` JSON of pytrec_eval and BEIR, for runs and for qrels;
- BEIR's qrels TSV, ``query-id corpus-id score`` with that header.

A document twice in one query of a run, or a qrels line judging a document twice, is refused with
its line, as trec_eval refuses it. Blank lines are skipped.

Semantics (trec_eval 9.0.8: ``form_res_rels.c``, ``m_ndcg_cut.c``, ``m_P.c``, ``m_recall.c``,
``m_recip_rank.c``, ``m_map.c``, ``m_map_cut.c``, ``meas_avg.c``):

- scores are 32-bit floats (``0.50000001`` and ``0.5`` tie); documents are ordered by score
  descending, then by docno descending byte-wise (``strcmp``: ``"9"`` ranks above ``"10"``);
- relevant means grade >= the relevance level (default 1); a negative grade is judged but counts as
  unjudged (no gain, not relevant, not in the ideal ranking);
- ``ndcg@k``: linear gain (the grade), ``gain / log2(rank + 1)`` over ranks 1..k; the ideal DCG
  ranks every judged document of grade >= 1 of the qrels, retrieved or not; an ideal DCG of 0 gives 0;
- ``p@k``: relevant in the top k / k, even when fewer than k were returned;
- ``recall@k``: relevant in the top k / relevant in the qrels (0 without relevant documents);
- ``recip_rank``: 1 / rank of the first relevant document; with a cut-off k (MRR@k) 0 past rank k;
- ``map`` (``map@k`` = trec_eval's ``map_cut_k``): the sum of the precision at each relevant
  retrieved document (within the top k) / every relevant document of the qrels;
- a query of the run absent from the qrels is skipped; a query of the qrels absent from the run is
  ignored (trec_eval's default) or, with ``complete=True`` (``trec_eval -c``), scored 0 and counted.

Speed and memory: nothing loops per line in Python. A file is tokenised in blocks of about
``_BLOCK_BYTES`` with numpy; each query id and docno becomes a fixed-width byte string (as wide as the
longest one, at most ``MAX_ID_BYTES``). A run of ``n`` lines then holds about
``n * (qid width + docno width + 50)`` bytes besides the file itself (5 M lines of 16-byte docnos:
about 400 MB at the peak of the sort); the file size is bounded by the caller's parse limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from runnotary.registry.errors import ArtifactError, ArtifactTooLarge

__all__ = [
    "MAX_ID_BYTES", "MEASURES", "Measure", "Judged", "PerQuery", "Qrels", "Run",
    "evaluate", "judge", "parse_qrels", "parse_run", "read_qrels", "read_run", "score_files",
]

Measure = Literal["ndcg", "p", "recall", "recip_rank", "map"]
MEASURES: tuple[Measure, ...] = ("ndcg", "p", "recall", "recip_rank", "map")
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


@dataclass(frozen=True)
class PerQuery:
    """One measure per query, sorted by query id, and its mean as trec_eval reports it."""

    measure: str
    query_ids: np.ndarray  # str
    values: np.ndarray  # float64
    mean: float
    parameters: dict[str, Any] = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------------------


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


# -- judging: the run ordered, each retrieved document's grade --------------------------------------


@dataclass(frozen=True)
class Judged:
    """A run ordered as trec_eval orders it and joined with the qrels, for the judged queries only.

    Rows are sorted by query, then by rank; ``query`` indexes ``query_ids`` (every query of the qrels,
    sorted), ``grade`` is the document's grade (-1 when the qrels do not judge it), ``rank`` starts at 1.
    ``ideal`` holds every positive grade of the qrels, per query in descending order (for nDCG).
    """

    query_ids: np.ndarray  # str, every qrels query, sorted byte-wise
    in_run: np.ndarray  # bool per query: the run retrieved something for it
    query: np.ndarray  # int64 per row
    rank: np.ndarray  # int64 per row
    grade: np.ndarray  # int64 per row
    qrels_query: np.ndarray  # int64 per qrels row with grade >= 0, sorted by (query, grade desc)
    qrels_grade: np.ndarray  # int64, same rows
    qrels_rank: np.ndarray  # int64: the rank of that grade in its query's ideal ordering

    @cached_property
    def n_queries(self) -> int:
        return int(self.query_ids.shape[0])

    def relevant_count(self, relevance_level: int) -> np.ndarray:
        """Relevant documents per query in the qrels (grade >= ``relevance_level``, never a negative grade)."""
        relevant = self.qrels_grade >= relevance_level
        return np.bincount(self.qrels_query[relevant], minlength=self.n_queries)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct byte strings and each value's index among them (order-preserving codes).

    Runs of equal neighbours (a run file lists a query's documents together) are collapsed first.
    """
    if len(values) == 0:
        return values[:0], np.zeros(0, np.int64)
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    heads = np.flatnonzero(change)
    if len(heads) * 4 < len(values):
        distinct, inverse = _unique(values[heads])
        return distinct, np.repeat(inverse, np.diff(heads, append=len(values)))
    return _unique(values)


def _unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for byte strings, on integers when the strings allow.

    A prefix every value shares is dropped (order and equality are unchanged); if the rest fits in
    8 bytes, the values are sorted as big-endian 64-bit integers, which is several times faster.
    """
    width = values.dtype.itemsize
    matrix = values.view(np.uint8).reshape(len(values), width)
    same = np.flatnonzero((matrix != matrix[0]).any(axis=0))
    prefix = int(same[0]) if len(same) else width
    rest = width - prefix
    if rest <= 8:
        padded = np.zeros((len(values), 8), dtype=np.uint8)
        padded[:, :rest] = matrix[:, prefix:]
        keys = padded.view(">u8").ravel().astype(np.uint64)
        order = np.argsort(keys)  # unstable is fine: equal keys get one code either way
        ordered = keys[order]
        head = np.empty(len(keys), dtype=bool)
        head[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
        inverse = np.empty(len(keys), dtype=np.int64)
        inverse[order] = np.cumsum(head) - 1
        return values[order[head]], inverse
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.astype(np.int64)


def _duplicate(keys: np.ndarray, lines: np.ndarray, name: str, docnos: np.ndarray, what: str) -> None:
    """Refuse a (query, docno) key that occurs twice, naming the later line (in file order)."""
    ordered = np.sort(keys)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    order = np.argsort(keys, kind="stable")
    repeats = order[1:][keys[order[1:]] == keys[order[:-1]]]
    at = int(repeats[np.argmin(lines[repeats])]) if lines.any() else int(repeats[0])
    where = f"{name}:{lines[at]}" if lines[at] else name
    raise ArtifactError(f"{where}: document {docnos[at][:80]!r} {what}")


def _order_bits(scores: np.ndarray) -> np.ndarray:
    """float32 scores as uint32 keys that sort in the floats' order (ties stay ties)."""
    bits = scores.view(np.uint32).astype(np.uint64)
    negative = bits >= 0x80000000
    return np.where(negative, 0xFFFFFFFF - bits, bits | 0x80000000)


def judge(run: Run, qrels: Qrels) -> Judged:
    """Order ``run`` as trec_eval does and look up each document's grade in ``qrels``."""
    qrels_ids, qrels_query = _codes(qrels.qids)
    n_queries = len(qrels_ids)
    # Run rows of queries the qrels do not judge are skipped (trec_eval evaluates none of them).
    run_ids, run_codes = _codes(run.qids)
    where = np.minimum(np.searchsorted(qrels_ids, run_ids), max(n_queries - 1, 0))
    known = qrels_ids[where] == run_ids if n_queries else np.zeros(len(run_ids), bool)
    keep = np.flatnonzero(known[run_codes])
    run_query = where[run_codes]
    docnos = run.docnos[keep]
    query = run_query[keep].astype(np.int64)
    doc_ids, doc_codes = _codes(np.concatenate([docnos.astype(_wider(docnos, qrels.docnos)),
                                                qrels.docnos.astype(_wider(docnos, qrels.docnos))]))
    run_doc, qrels_doc = doc_codes[: len(keep)], doc_codes[len(keep):]
    n_docs = max(len(doc_ids), 1)
    run_key = query * n_docs + run_doc
    qrels_key = qrels_query * n_docs + qrels_doc
    _duplicate(qrels_key, qrels.lines, qrels.name, qrels.docnos, "is judged twice for one query")
    _duplicate(run_key, run.lines[keep], run.name, docnos, "is retrieved twice for one query")
    # Score descending, then docno descending: one key for (query, score), the docno code second.
    primary = (query.astype(np.uint64) << np.uint64(32)) | (np.uint64(0xFFFFFFFF) - _order_bits(run.scores[keep]))
    order = _order(primary, np.int64(n_docs - 1) - run_doc)
    query, run_key = query[order], run_key[order]
    starts = np.searchsorted(query, np.arange(n_queries))
    rank = np.arange(len(query), dtype=np.int64) - starts[query] + 1
    by_key = np.argsort(qrels_key, kind="stable")
    sorted_keys = qrels_key[by_key]
    at = np.minimum(np.searchsorted(sorted_keys, run_key), max(len(sorted_keys) - 1, 0))
    found = sorted_keys[at] == run_key if len(sorted_keys) else np.zeros(len(run_key), bool)
    grade = np.where(found, qrels.grades[by_key[at]] if len(sorted_keys) else 0, -1).astype(np.int64)
    grade = np.where(grade < 0, -1, grade)  # a negative grade: judged, but scored as unjudged
    judged_rows = qrels.grades >= 0
    ideal_order = np.lexsort((-qrels.grades[judged_rows], qrels_query[judged_rows]))
    ideal_query = qrels_query[judged_rows][ideal_order]
    ideal_grade = qrels.grades[judged_rows][ideal_order]
    ideal_rank = np.arange(len(ideal_query), dtype=np.int64) - np.searchsorted(ideal_query, ideal_query) + 1
    in_run = np.bincount(query, minlength=n_queries) > 0
    return Judged(_text(qrels_ids), in_run, query, rank, grade, ideal_query, ideal_grade, ideal_rank)


def _order(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """The order sorting rows by ``primary`` then ``secondary`` (both ascending, secondary < 2**32).

    One unstable sort on ``primary``; only the rows in runs of equal ``primary`` (tied scores) are
    sorted again, by (run, secondary) packed in one integer. Same result as ``np.lexsort``, faster.
    """
    order = np.argsort(primary)
    ordered = primary[order]
    tied = np.zeros(len(order), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    tied[1:] |= same
    tied[:-1] |= same
    positions = np.flatnonzero(tied)
    if len(positions):
        group = np.cumsum(np.concatenate([[True], ~same]))[positions].astype(np.uint64)
        key = (group << np.uint64(32)) | secondary[order[positions]].astype(np.uint64)
        order[positions] = order[positions][np.argsort(key)]
    return order


def _wider(a: np.ndarray, b: np.ndarray) -> str:
    return f"S{max(a.dtype.itemsize, b.dtype.itemsize, 1)}"


def _text(ids: np.ndarray) -> np.ndarray:
    return np.array([v.decode("utf-8", "backslashreplace") for v in ids.tolist()], dtype=str)


# -- measures --------------------------------------------------------------------------------------


def evaluate(
    judged: Judged, measure: Measure, k: int | None = None, *, relevance_level: int = 1, complete: bool = False
) -> PerQuery:
    """One measure per query and its mean, as trec_eval 9.0.8 (``-c`` when ``complete``).

    ``k`` is the cut-off (``ndcg``, ``p`` and ``recall`` need one; ``recip_rank`` and ``map`` take
    one optionally). Without ``complete`` the queries are those of the qrels the run retrieved
    something for; with it, every query of the qrels (the missing ones score 0).
    """
    if measure in ("ndcg", "p", "recall") and k is None:
        raise ValueError(f"{measure} needs a cut-off k")
    if k is not None and k < 1:
        raise ValueError(f"the cut-off k must be >= 1, not {k}")
    if relevance_level < 0:
        raise ValueError(f"the relevance level must be >= 0, not {relevance_level}")
    n = judged.n_queries
    within = judged.rank <= k if k is not None else np.ones(len(judged.rank), bool)
    relevant = judged.grade >= relevance_level
    hits = relevant & within
    n_relevant = judged.relevant_count(relevance_level)
    if measure == "ndcg":
        gain = np.where(within & (judged.grade > 0), judged.grade, 0) / np.log2(judged.rank + 1.0)
        dcg = np.bincount(judged.query, weights=gain, minlength=n)
        ideal_within = judged.qrels_rank <= (k or 0)
        ideal_gain = np.where(ideal_within & (judged.qrels_grade > 0), judged.qrels_grade, 0) / np.log2(
            judged.qrels_rank + 1.0)
        ideal = np.bincount(judged.qrels_query, weights=ideal_gain, minlength=n)
        values = np.divide(dcg, ideal, out=np.zeros(n), where=ideal > 0)
    elif measure == "p":
        assert k is not None
        values = np.bincount(judged.query[hits], minlength=n) / float(k)
    elif measure == "recall":
        found = np.bincount(judged.query[hits], minlength=n).astype(np.float64)
        values = np.divide(found, n_relevant, out=np.zeros(n), where=n_relevant > 0)
    elif measure == "recip_rank":
        first = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first, judged.query[hits], judged.rank[hits])
        values = np.where(first < np.iinfo(np.int64).max, 1.0 / first, 0.0)
    elif measure == "map":
        cumulative = np.cumsum(relevant)
        starts = np.searchsorted(judged.query, np.arange(n))
        before = np.concatenate([[0], cumulative])[starts]  # relevant rows of earlier queries
        so_far = cumulative - before[judged.query]
        precision = np.where(hits, so_far / judged.rank, 0.0)
        total = np.bincount(judged.query, weights=precision, minlength=n)
        values = np.divide(total, n_relevant, out=np.zeros(n), where=n_relevant > 0)
    else:
        raise ValueError(f"unknown measure {measure!r}; known: {', '.join(MEASURES)}")
    shown = np.ones(n, bool) if complete else judged.in_run
    values = np.where(judged.in_run, values, 0.0)[shown]
    parameters: dict[str, Any] = {"k": k, "relevance_level": relevance_level, "complete": complete}
    mean = float(values.sum() / len(values)) if len(values) else 0.0
    return PerQuery(measure, judged.query_ids[shown], values, mean, parameters)


def score_files(run: Path, qrels: Path, recipe: dict[str, Any], max_bytes: int = 1 << 34) -> PerQuery:
    """Per-query values of a recorded ranking recipe (``measure``, ``k``, ``relevance_level``,
    ``complete``) from a run file and a qrels file: what ``verify-bundle`` re-derives."""
    judged = judge(read_run(run, max_bytes), read_qrels(qrels, max_bytes))
    return evaluate(judged, recipe["measure"], recipe.get("k"), relevance_level=int(recipe.get("relevance_level", 1)),
                    complete=bool(recipe.get("complete", False)))

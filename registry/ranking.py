"""Ranking metrics from a run and its relevance judgments, exactly as trec_eval 9.0.8 computes them.

The run and the qrels are read by ``ranking_files`` (TREC, MS MARCO, pytrec_eval/BEIR JSON, BEIR TSV).
A document twice in one query of a run, or a qrels line judging a document twice, is refused with
its line (``judge``), as trec_eval refuses it.

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

Speed and memory: the run is ordered and joined with the qrels by sorting integer codes of the ids
(``judge``); nothing loops per line or per query in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from runnotary.registry.errors import ArtifactError
from runnotary.registry.ranking_files import Qrels, Run, read_qrels, read_run

__all__ = ["MEASURES", "Measure", "Judged", "PerQuery", "evaluate", "judge", "score_files"]

Measure = Literal["ndcg", "p", "recall", "recip_rank", "map"]
MEASURES: tuple[Measure, ...] = ("ndcg", "p", "recall", "recip_rank", "map")


@dataclass(frozen=True)
class PerQuery:
    """One measure per query, sorted by query id, and its mean as trec_eval reports it."""

    measure: str
    query_ids: np.ndarray  # str
    values: np.ndarray  # float64
    mean: float
    parameters: dict[str, Any] = field(default_factory=dict)



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

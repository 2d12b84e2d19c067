"""Ranking metrics from a run and qrels agree with trec_eval 9.0.8: its own test collection and its C
code (pytrec-eval-terrier) on random runs with ties, float32-only differences, graded and negative
judgments and queries missing on either side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runnotary.registry import ArtifactError
from runnotary.registry import ranking, ranking_files

pytrec_eval = pytest.importorskip("pytrec_eval")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trec_eval"
CUTS = (5, 10, 15, 20, 30, 100, 200, 500, 1000)
#: trec_eval's measure name -> (runnotary's measure, cut-offs) for the measures runnotary supports.
SUPPORTED = {
    "ndcg_cut": ("ndcg", CUTS), "P": ("p", CUTS), "recall": ("recall", CUTS), "map_cut": ("map", CUTS),
    "recip_rank": ("recip_rank", (None,)), "map": ("map", (None,)),
}


def _expected(name: str) -> dict[tuple[str, str], str]:
    rows = (line.split() for line in (FIXTURES / name).read_text().splitlines())
    return {(measure, qid): value for measure, qid, value in rows}


@pytest.mark.parametrize(
    ("qrels", "run", "output", "level", "complete"),
    [
        ("qrels.test", "results.test", "out.test.aq", 1, False),  # trec_eval -q
        ("qrels.test", "results.trunc", "out.test.aqc", 1, True),  # trec_eval -q -c (a query missing from the run)
        ("qrels.rel_level", "results.test", "out.test.aql", 2, False),  # trec_eval -q -l2, grades -1..4
    ],
)
def test_trec_eval_test_collection_matches_its_expected_output(qrels: str, run: str, output: str, level: int,
                                                               complete: bool) -> None:
    """Every per-query and averaged value of the supported measures, to trec_eval's 4 printed decimals."""
    expected = _expected(output)
    judged = ranking.judge(ranking_files.read_run(FIXTURES / run, 1 << 24), ranking_files.read_qrels(FIXTURES / qrels, 1 << 24))
    compared = 0
    for te_name, (measure, cuts) in SUPPORTED.items():
        for k in cuts:
            name = te_name if k is None else f"{te_name}_{k}"
            result = ranking.evaluate(judged, measure, k, relevance_level=level, complete=complete)  # type: ignore[arg-type]
            printed = {qid: value for (m, qid), value in expected.items() if m == name and qid != "all"}
            assert {q: f"{v:.4f}" for q, v in zip(result.query_ids, result.values) if q in printed} == printed, name
            assert f"{result.mean:.4f}" == expected[(name, "all")], name
            compared += len(printed) + 1
    assert compared >= 100


def test_fixture_queries_follow_trec_eval_missing_query_rule() -> None:
    """results.trunc lacks query 302: ignored by default, scored 0 and counted with -c."""
    judged = ranking.judge(ranking_files.read_run(FIXTURES / "results.trunc", 1 << 24),
                           ranking_files.read_qrels(FIXTURES / "qrels.test", 1 << 24))
    default = ranking.evaluate(judged, "map")
    complete = ranking.evaluate(judged, "map", complete=True)
    assert list(default.query_ids) == ["301", "303"]
    assert list(complete.query_ids) == ["301", "302", "303"] and complete.values[1] == 0.0
    assert complete.mean == pytest.approx(default.values.sum() / 3)


# -- pytrec_eval (trec_eval 9.0.8's C code) on random cases ------------------------------------------


def _case(seed: int) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """A run and qrels with many ties, scores equal only in float32, graded and negative judgments,
    queries judged but not retrieved and retrieved but not judged, docnos of mixed lengths ("9" vs "10")."""
    rng = np.random.default_rng(seed)
    n_queries = int(rng.integers(200, 400))
    pool = [f"d{i}" for i in range(60)] + [str(i) for i in range(1, 120)]
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    levels = np.array([0.5, 0.25, 0.125, 1.0, 2.0])
    for q in range(n_queries):
        qid = f"q{q}" if q % 3 else str(q)
        n_docs = int(rng.integers(0, 40))
        docs = rng.choice(len(pool), size=n_docs, replace=False)
        scores = levels[rng.integers(0, len(levels), n_docs)]
        beyond = rng.random(n_docs) < 0.3
        scores = np.where(beyond, scores + rng.choice([1e-9, -1e-9, 3e-10], n_docs), scores)  # equal in float32
        scores = np.where(rng.random(n_docs) < 0.2, rng.normal(size=n_docs), scores)
        if rng.random() > 0.1 and n_docs:
            run[qid] = {pool[d]: float(s) for d, s in zip(docs, scores)}
        if rng.random() > 0.1:
            judged = rng.choice(len(pool), size=int(rng.integers(1, 50)), replace=False)
            qrels[qid] = {pool[d]: int(g) for d, g in zip(judged, rng.choice([-1, 0, 0, 1, 1, 2, 3], len(judged)))}
    return run, qrels


def _write_trec(tmp_path: Path, run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> tuple[Path, Path]:
    lines = []
    for qid, docs in run.items():
        for rank, (docno, score) in enumerate(docs.items(), start=1):
            lines.append(f"{qid} Q0 {docno} {1000 - rank} {score!r} tag\n")  # a rank column that disagrees with the scores
    (tmp_path / "run.txt").write_text("".join(lines))
    (tmp_path / "qrels.txt").write_text(
        "".join(f"{qid} 0 {docno} {grade}\n" for qid, docs in qrels.items() for docno, grade in docs.items()))
    return tmp_path / "run.txt", tmp_path / "qrels.txt"


ORACLE_MEASURES = {"ndcg_cut.1,3,10,100", "P.1,3,10", "recall.1,3,10,100", "recip_rank", "map", "map_cut.3,10"}
ORACLE = [("ndcg", k, f"ndcg_cut_{k}") for k in (1, 3, 10, 100)] + [("p", k, f"P_{k}") for k in (1, 3, 10)] + [
    ("recall", k, f"recall_{k}") for k in (1, 3, 10, 100)] + [("map", k, f"map_cut_{k}") for k in (3, 10)] + [
    ("recip_rank", None, "recip_rank"), ("map", None, "map")]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", [1, 2])
def test_random_runs_match_pytrec_eval_per_query_and_averaged(tmp_path: Path, seed: int, level: int) -> None:
    run, qrels = _case(seed)
    run_path, qrels_path = _write_trec(tmp_path, run, qrels)
    judged = ranking.judge(ranking_files.read_run(run_path, 1 << 24), ranking_files.read_qrels(qrels_path, 1 << 24))
    oracle = pytrec_eval.RelevanceEvaluator(qrels, ORACLE_MEASURES, relevance_level=level).evaluate(run)
    assert len(oracle) > 100
    for measure, k, te_name in ORACLE:
        ours = ranking.evaluate(judged, measure, k, relevance_level=level)  # type: ignore[arg-type]
        assert list(ours.query_ids) == sorted(oracle, key=str.encode)
        expected = np.array([oracle[q][te_name] for q in ours.query_ids])
        np.testing.assert_allclose(ours.values, expected, rtol=1e-12, atol=1e-15, err_msg=te_name)
        assert ours.mean == pytest.approx(expected.mean(), rel=1e-12)
        complete = ranking.evaluate(judged, measure, k, relevance_level=level, complete=True)  # type: ignore[arg-type]
        assert len(complete.values) == len(qrels)
        assert complete.mean == pytest.approx(expected.sum() / len(qrels), rel=1e-12)  # trec_eval -c


@pytest.mark.parametrize("seed", range(3))
def test_mrr_at_10_is_the_reciprocal_rank_within_the_top_10(tmp_path: Path, seed: int) -> None:
    run, qrels = _case(100 + seed)
    judged = ranking.judge(ranking_files.read_run(_write_trec(tmp_path, run, qrels)[0], 1 << 24),
                           ranking_files.read_qrels(tmp_path / "qrels.txt", 1 << 24))
    oracle = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)
    ours = ranking.evaluate(judged, "recip_rank", 10)
    expected = np.array([oracle[q]["recip_rank"] if oracle[q]["recip_rank"] >= 0.1 else 0.0 for q in ours.query_ids])
    np.testing.assert_allclose(ours.values, expected, rtol=1e-12)
    assert (expected == 0).any() and (expected > 0).any()


def test_json_and_beir_forms_give_the_trec_values(tmp_path: Path) -> None:
    run, qrels = _case(7)
    run_path, qrels_path = _write_trec(tmp_path, run, qrels)
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "qrels.json").write_text(json.dumps(qrels))
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, docs in qrels.items() for d, g in docs.items()))
    trec = ranking.judge(ranking_files.read_run(run_path, 1 << 24), ranking_files.read_qrels(qrels_path, 1 << 24))
    for run_file, qrels_file in (("run.json", "qrels.json"), ("run.txt", "qrels.tsv")):
        other = ranking.judge(ranking_files.read_run(tmp_path / run_file, 1 << 24),
                              ranking_files.read_qrels(tmp_path / qrels_file, 1 << 24))
        for measure, k in (("ndcg", 10), ("map", None), ("recall", 100)):
            a, b = ranking.evaluate(trec, measure, k), ranking.evaluate(other, measure, k)  # type: ignore[arg-type]
            assert list(a.query_ids) == list(b.query_ids)
            np.testing.assert_array_equal(a.values, b.values)


# -- trec_eval's rules, one by one -----------------------------------------------------------------


def _judge(run: str, qrels: str) -> ranking.Judged:
    return ranking.judge(ranking_files.parse_run(run.encode(), "run"), ranking_files.parse_qrels(qrels.encode(), "qrels"))


def test_ties_break_by_docno_descending_trec_eval_issue_22() -> None:
    """qrels a=0, b=1, c=0; b and c both scored 1.0: c ranks first, ndcg_cut_10 = 1/log2(3)."""
    judged = _judge("1 Q0 b 1 1.0 r\n1 Q0 c 2 1.0 r\n", "1 0 a 0\n1 0 b 1\n1 0 c 0\n")
    assert ranking.evaluate(judged, "ndcg", 10).values[0] == pytest.approx(1 / np.log2(3))


def test_docno_order_is_byte_wise_nine_above_ten() -> None:
    judged = _judge("1 Q0 10 1 0.5 r\n1 Q0 9 2 0.5 r\n", "1 0 9 1\n1 0 10 0\n")
    assert ranking.evaluate(judged, "recip_rank").values[0] == 1.0


def test_scores_equal_in_float32_tie() -> None:
    judged = _judge("1 Q0 b 1 0.50000001 r\n1 Q0 a 2 0.5 r\n", "1 0 a 1\n")
    assert ranking.evaluate(judged, "recip_rank").values[0] == 0.5  # b wins the tie on docno, a is second


def test_exponential_gain_and_retrieved_only_ideal_differ_from_trec_eval() -> None:
    """Linear gain and an ideal DCG over every judged relevant document (retrieved or not)."""
    judged = _judge("1 Q0 a 1 3 r\n1 Q0 b 2 2 r\n", "1 0 a 1\n1 0 b 3\n1 0 c 2\n")
    dcg = 1 / np.log2(2) + 3 / np.log2(3)
    ideal = 3 / np.log2(2) + 2 / np.log2(3) + 1 / np.log2(4)
    assert ranking.evaluate(judged, "ndcg", 10).values[0] == pytest.approx(dcg / ideal)


def test_precision_divides_by_k_even_when_fewer_were_returned() -> None:
    judged = _judge("1 Q0 a 1 3 r\n", "1 0 a 1\n")
    assert ranking.evaluate(judged, "p", 10).values[0] == pytest.approx(0.1)


def test_negative_grades_are_judged_but_not_relevant() -> None:
    judged = _judge("1 Q0 a 1 3 r\n1 Q0 b 2 2 r\n", "1 0 a -1\n1 0 b 1\n")
    assert ranking.evaluate(judged, "recip_rank").values[0] == 0.5
    assert ranking.evaluate(judged, "recall", 10).values[0] == 1.0


def test_relevance_is_read_as_atol_does() -> None:
    qrels = ranking_files.parse_qrels(b"1 0 a 2.7\n1 0 b -1\n1 0 c 0\n", "q")
    assert list(qrels.grades) == [2, -1, 0]


@pytest.mark.parametrize(
    ("run", "qrels", "message"),
    [
        ("1 Q0 a 1 1 r\n\n1 Q0 b 2 1 r\n1 Q0 a 3 0.5 r\n", "1 0 a 1\n", r"run:4: document b'a' is retrieved twice"),
        ("1 Q0 a 1 1 r\n", "1 0 a 1\n1 0 b 0\n1 0 a 0\n", r"qrels:3: document b'a' is judged twice"),
        ("1 Q0 a 1 1\n", "1 0 a 1\n", r"run:1: malformed line \(5 fields\)"),
        ("1 Q0 a 1 x r\n", "1 0 a 1\n", r"run:1: the score b'x' is not a number"),
        ("1 Q0 a 1 nan r\n", "1 0 a 1\n", r"run:1: the score is NaN"),
        ("1 Q0 a 1 1 r\n", "1 0 a 1 extra\n", r"qrels:1: malformed line \(5 fields\)"),
        ("1 Q0 a 1 1 r\n", "1 0 a 1e3\n", r"qrels:1: the relevance b'1e3' is not a decimal"),
        ("", "1 0 a 1\n", r"run: no data lines"),
        ('{"1": {"a": 1, "a": 2}}', "1 0 a 1\n", r"the key 'a' appears twice"),
    ],
)
def test_bad_files_are_refused_naming_the_line(run: str, qrels: str, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        _judge(run, qrels)


def test_a_run_query_without_judgments_is_skipped() -> None:
    judged = _judge("1 Q0 a 1 1 r\n2 Q0 a 1 1 r\n", "1 0 a 1\n")
    result = ranking.evaluate(judged, "map")
    assert list(result.query_ids) == ["1"] and result.mean == 1.0


def test_large_files_are_parsed_in_blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Block boundaries (forced small here) change nothing, line numbers included."""
    run, qrels = _case(3)
    run_path, qrels_path = _write_trec(tmp_path, run, qrels)
    whole = ranking_files.read_run(run_path, 1 << 24)
    monkeypatch.setattr(ranking_files, "_BLOCK_BYTES", 97)
    blocks = ranking_files.read_run(run_path, 1 << 24)
    np.testing.assert_array_equal(whole.lines, blocks.lines)
    np.testing.assert_array_equal(whole.docnos, blocks.docnos)
    np.testing.assert_array_equal(whole.scores, blocks.scores)


@pytest.mark.parametrize("seed", range(3))
def test_an_ms_marco_run_is_ordered_by_its_rank_column(tmp_path: Path, seed: int) -> None:
    """``qid<TAB>pid<TAB>rank`` without a score: pytrec_eval on scores -rank, and MRR@10 as MS MARCO's
    evaluation script computes it (1 / the rank of the first relevant passage within the top 10)."""
    run, qrels = _case(200 + seed)
    rng = np.random.default_rng(seed)
    ranked = {qid: {docno: rank for rank, docno in enumerate(rng.permutation(list(docs)).tolist(), start=1)}
              for qid, docs in run.items()}
    lines = [f"{qid}\t{docno}\t{rank}\n" for qid, docs in ranked.items() for docno, rank in docs.items()]
    (tmp_path / "run.tsv").write_text("".join(rng.permutation(lines).tolist()))  # line order means nothing
    _, qrels_path = _write_trec(tmp_path, run, qrels)
    judged = ranking.judge(ranking_files.read_run(tmp_path / "run.tsv", 1 << 24), ranking_files.read_qrels(qrels_path, 1 << 24))
    as_scores = {qid: {docno: float(-rank) for docno, rank in docs.items()} for qid, docs in ranked.items()}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map", "recip_rank"}).evaluate(as_scores)
    for measure, k, te_name in (("ndcg", 10, "ndcg_cut_10"), ("map", None, "map"), ("recip_rank", None, "recip_rank")):
        ours = ranking.evaluate(judged, measure, k)  # type: ignore[arg-type]
        np.testing.assert_allclose(ours.values, [oracle[q][te_name] for q in ours.query_ids], rtol=1e-12, err_msg=te_name)
    mrr = ranking.evaluate(judged, "recip_rank", 10)
    by_hand = []
    for qid in mrr.query_ids:
        relevant = sorted(rank for docno, rank in ranked[qid].items() if qrels[qid].get(docno, 0) >= 1 and rank <= 10)
        by_hand.append(1.0 / relevant[0] if relevant else 0.0)
    np.testing.assert_allclose(mrr.values, by_hand, rtol=1e-12)


@pytest.mark.parametrize("rank", ["0", "2.5", "-3", "16777216", "x"])
def test_an_ms_marco_rank_that_is_not_a_whole_number_is_refused_with_its_line(rank: str) -> None:
    with pytest.raises(ArtifactError, match=r"run.tsv:2: the rank"):
        ranking_files.parse_run(f"q1\td1\t1\nq1\td2\t{rank}\n".encode(), "run.tsv")

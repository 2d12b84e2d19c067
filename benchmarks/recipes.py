"""Benchmark: runnotary's ranking recipe beside pytrec-eval-terrier (trec_eval 9.0.8's C code) on the same files.

Run ``python -m benchmarks.recipes`` from the repository root (``--queries`` / ``--docs`` to change the
size; default 5,000 queries x 1,000 documents = 5 M run lines, 100 judgments per query). It writes a
TREC run and qrels to a temporary folder and prints, for each tool, the seconds to parse the files
and to score nDCG@10, then lines per second and milliseconds per 1,000 queries. pytrec_eval parses
nothing itself: its time includes reading the same files into its ``{qid: {docno: score}}`` dicts
with Python. Each tool runs in its own child process, whose peak resident memory is printed beside
its times. This is a script that prints figures; no test asserts on wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from runnotary.registry import ranking, ranking_files


def _write(folder: Path, n_queries: int, n_docs: int, n_judged: int, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    qids = np.repeat(np.arange(n_queries), n_docs)
    docs = rng.integers(0, 8_000_000, size=n_queries * n_docs)
    scores = np.round(rng.normal(size=n_queries * n_docs), 3)  # rounded: ties, as real runs have
    ranks = np.tile(np.arange(1, n_docs + 1), n_queries)
    run = folder / "run.txt"
    with run.open("w") as out:
        for lo in range(0, len(qids), 500_000):
            hi = lo + 500_000
            # A query may draw a docno twice; a duplicate gets a suffix so the run stays valid.
            block = np.char.add(np.char.mod("MARCO_%d", docs[lo:hi]), np.where(ranks[lo:hi] % 997 == 0, "x", ""))
            lines = np.char.add(np.char.add(np.char.mod("%d Q0 ", qids[lo:hi]), block),
                                np.char.mod(" %d", ranks[lo:hi]))
            out.write("\n".join(f"{line} {s!r} bench" for line, s in zip(lines.tolist(), scores[lo:hi].tolist())))
            out.write("\n")
    qrels = folder / "qrels.txt"
    with qrels.open("w") as out:
        for q in range(n_queries):
            picked = np.unique(docs[q * n_docs: q * n_docs + n_judged * 3])[:n_judged]
            grades = rng.choice([0, 0, 1, 2, 3], len(picked))
            out.write("".join(f"{q} 0 MARCO_{d} {g}\n" for d, g in zip(picked.tolist(), grades.tolist())))
    return run, qrels


def _dedupe(run: Path) -> None:
    """Drop repeated (query, docno) lines (random draws can repeat); both tools then read one file."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for line in run.read_text().splitlines():
        qid, _, docno, *_ = line.split()
        if (qid, docno) not in seen:
            seen.add((qid, docno))
            kept.append(line)
    run.write_text("\n".join(kept) + "\n")


def _runnotary(run: Path, qrels: Path) -> tuple[float, float, float]:
    started = time.perf_counter()
    parsed_run, parsed_qrels = ranking_files.read_run(run, 1 << 34), ranking_files.read_qrels(qrels, 1 << 34)
    parsed = time.perf_counter()
    judged = ranking.judge(parsed_run, parsed_qrels)
    value = ranking.evaluate(judged, "ndcg", 10).mean
    return parsed - started, time.perf_counter() - parsed, value


def _pytrec(run: Path, qrels: Path) -> tuple[float, float, float]:
    import pytrec_eval

    started = time.perf_counter()
    run_dict: dict[str, dict[str, float]] = {}
    for line in run.read_text().splitlines():
        qid, _, docno, _, score, *_ = line.split()
        run_dict.setdefault(qid, {})[docno] = float(score)
    qrels_dict: dict[str, dict[str, int]] = {}
    for line in qrels.read_text().splitlines():
        qid, _, docno, rel = line.split()
        qrels_dict.setdefault(qid, {})[docno] = int(rel)
    parsed = time.perf_counter()
    result = pytrec_eval.RelevanceEvaluator(qrels_dict, {"ndcg_cut.10"}).evaluate(run_dict)
    value = float(np.mean([v["ndcg_cut_10"] for v in result.values()]))
    return parsed - started, time.perf_counter() - parsed, value


_TOOLS = {"runnotary": _runnotary, "pytrec-eval-terrier": _pytrec}


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: per address space, so not the parent's before exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(tool: str, run: Path, qrels: Path) -> dict[str, float]:
    """Run one tool in a fresh process: its times, its value and its own peak memory."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.recipes", "--tool", tool, str(run), str(qrels)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--docs", type=int, default=1_000)
    parser.add_argument("--judged", type=int, default=100)
    parser.add_argument("--tool", choices=list(_TOOLS), help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tool:
        parse_s, score_s, value = _TOOLS[args.tool](Path(args.files[0]), Path(args.files[1]))
        peak = _peak_mb()
        print(json.dumps({"parse_s": parse_s, "score_s": score_s, "value": value, "peak_mb": peak}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        run, qrels = _write(Path(tmp), args.queries, args.docs, args.judged, seed=18)
        _dedupe(run)
        lines = sum(1 for _ in run.open("rb"))
        size = run.stat().st_size
        print(f"run: {lines:,} lines ({size / 1e6:.0f} MB), {args.queries:,} queries; qrels: {qrels.stat().st_size / 1e6:.1f} MB")
        print(f"{'tool':<22}{'parse s':>9}{'score s':>9}{'total s':>9}{'lines/s':>12}{'ms/1k queries':>15}"
              f"{'peak MB':>9}  ndcg@10")
        for label in _TOOLS:
            r = _child(label, run, qrels)
            total = r["parse_s"] + r["score_s"]
            print(f"{label:<22}{r['parse_s']:>9.2f}{r['score_s']:>9.2f}{total:>9.2f}{lines / total:>12,.0f}"
                  f"{total / args.queries * 1e6:>15.1f}{r['peak_mb']:>9,.0f}  {r['value']:.6f}")


if __name__ == "__main__":
    main()

"""A realistic synthetic experiment, written the way training jobs would write it.

A retrieval model's baseline and two candidates, evaluated on one query set: per-query
ndcg@10 and compliance@1, a TREC run and its qrels (MAP is reproduced from them), per-request
latency logs, a visual ablation, v1/v2 score correlations, attention heatmaps and the job's
own metrics.json. Candidate ``a`` is built
to pass the gates and candidate ``b`` to fail them.

With ``seeds_per_arm > 1`` every profile is trained with that many seeds: the runs of one
profile share its ``candidate_id`` and differ in ``seeds.value``; each seed moves the whole
run's ndcg@10 (a seed effect) and adds its own per-query churn, on the same queries.
"""

from __future__ import annotations

import hashlib
import json
import platform
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from runnotary.contract import RunCreated
from runnotary.digests import sha256_file

__all__ = ["Profile", "PROFILES", "generate"]


@dataclass(frozen=True)
class Profile:
    name: str
    role: str
    ndcg_shift: float  # mean per-query ndcg@10 change against the baseline
    latency_scale_ms: float  # lognormal median of request latency
    ablation_drop_pct: float
    v1_v2_corr: float
    latency_unit: str  # the unit the job reports its p95 in (runnotary normalises it)
    ranking_signal: float = 1.0  # how strongly the run's scores follow the relevance grades


PROFILES = (
    Profile("baseline", "baseline", 0.0, 24.0, 4.0, 0.93, "ms", 1.0),
    Profile("cand-a", "candidate", 0.012, 24.5, 6.4, 0.91, "s", 1.4),
    Profile("cand-b", "candidate", -0.001, 31.0, 3.1, 0.97, "ms", 0.9),
)


def _write_png(path: Path, rng: np.random.Generator) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens = 16
    logits = rng.normal(size=(tokens, tokens)) + 3 * np.eye(tokens)
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    plt.imsave(path, weights, cmap="viridis")


def _write_trec(run_dir: Path, query_ids: list[str], grades: np.ndarray, signal: float,
                rng: np.random.Generator) -> float:
    """A TREC run (100 documents per query, scores following the grades by ``signal``) and its qrels
    (``grades``: queries x 100 documents, -1 = not judged); returns the run's MAP as trec_eval computes it."""
    from runnotary.registry import ranking, ranking_files

    (run_dir / "trec").mkdir(exist_ok=True)
    n_queries, n_docs = grades.shape
    scores = np.round(np.clip(grades, 0, None) * signal + rng.normal(0.0, 1.0, size=grades.shape), 3)
    with (run_dir / "trec" / "run.trec").open("w") as fh:
        for q, qid in enumerate(query_ids[:n_queries]):
            order = np.argsort(-scores[q], kind="stable")
            fh.writelines(f"{qid} Q0 doc{q:05d}-{d:03d} {rank} {scores[q, d]:.3f} {run_dir.name}\n"
                          for rank, d in enumerate(order, start=1))
    with (run_dir / "trec" / "qrels.txt").open("w") as fh:
        for q, qid in enumerate(query_ids[:n_queries]):
            fh.writelines(f"{qid} 0 doc{q:05d}-{d:03d} {g}\n" for d, g in enumerate(grades[q]) if g >= 0)
    judged = ranking.judge(ranking_files.read_run(run_dir / "trec" / "run.trec", 1 << 30),
                           ranking_files.read_qrels(run_dir / "trec" / "qrels.txt", 1 << 30))
    return ranking.evaluate(judged, "map").mean  # the job's own trec_eval


def generate(root: Path, *, n_queries: int = 3000, n_requests: int = 20000, seed: int = 7,
             experiment: str = "/Shared/retrieval_evaluation", seeds_per_arm: int = 1,
             seed_sd: float = 0.01) -> list[RunCreated]:
    """Write the artifacts of every profile under ``root`` and return their run-created events.

    ``seeds_per_arm`` runs per profile (one run, named after the profile, by default; otherwise
    ``<profile>-s<k>``), with seed effects of standard deviation ``seed_sd`` on ndcg@10."""
    if seeds_per_arm < 1:
        raise ValueError(f"seeds_per_arm must be >= 1, got {seeds_per_arm}")
    rng = np.random.default_rng(seed)
    seed_rng = np.random.default_rng([seed, 19])  # draws only when several seeds: one seed stays as it was
    query_ids = [f"q{i:05d}" for i in range(n_queries)]
    base_ndcg = rng.beta(4.0, 3.0, size=n_queries)
    n_ranked = min(n_queries, 300)
    trec_grades = np.where(rng.random((n_ranked, 100)) < 0.3, rng.choice([0, 0, 1, 2, 3], size=(n_ranked, 100)), -1)
    dataset_sha = hashlib.sha256(("\n".join(query_ids)).encode()).hexdigest()
    split_hashes = {s: hashlib.sha256(f"{dataset_sha}:{s}".encode()).hexdigest() for s in ("train", "test")}
    requirements = hashlib.sha256(b"numpy==2.*\ntorch==2.*\n").hexdigest()
    created = datetime.now(timezone.utc).replace(microsecond=0)
    events = []
    runs = [(index, profile, j) for index, profile in enumerate(PROFILES) for j in range(seeds_per_arm)]
    for index, profile, j in runs:
        prefix = profile.name if seeds_per_arm == 1 else f"{profile.name}-s{j + 1}"
        run_dir = root / prefix
        (run_dir / "ablation").mkdir(parents=True, exist_ok=True)
        (run_dir / "corr").mkdir(exist_ok=True)
        (run_dir / "attention").mkdir(exist_ok=True)

        noise = rng.normal(profile.ndcg_shift, 0.05, size=n_queries) if profile.role == "candidate" else 0.0
        if seeds_per_arm > 1:  # the recipe's own per-query change (item x arm), shared by its seeds; a seed
            # moves the whole run, and each run churns on its own queries
            if j == 0:
                recipe = seed_rng.normal(profile.ndcg_shift, 0.05, size=n_queries) if profile.role == "candidate" else 0.0
            noise = recipe + seed_rng.normal(0.0, seed_sd) + seed_rng.normal(0.0, 0.03, size=n_queries)
        ndcg = np.clip(base_ndcg + noise, 0.0, 1.0)
        compliance = (rng.random(n_queries) < 0.92).astype(float)
        with (run_dir / "per_query.csv").open("w") as fh:
            fh.write("query_id,ndcg@10,compliance@1\n")
            fh.writelines(f"{q},{v:.6f},{c:.0f}\n" for q, v, c in zip(query_ids, ndcg, compliance))

        latency = rng.lognormal(np.log(profile.latency_scale_ms), 0.38, size=n_requests)
        start = created - timedelta(minutes=30)
        with (run_dir / "latency.log").open("w") as fh:
            fh.writelines(
                f"{(start + timedelta(milliseconds=40 * i)).isoformat()} req-{i:06d} {v:.3f}\n" for i, v in enumerate(latency)
            )

        full = float(np.round(ndcg, 6).mean())
        ablated = full * (1 - profile.ablation_drop_pct / 100)
        (run_dir / "ablation" / "visual.json").write_text(json.dumps({"metric": "ndcg@10", "full": full, "ablated": ablated}))

        v1 = rng.normal(size=500)
        v2 = profile.v1_v2_corr * v1 + np.sqrt(1 - profile.v1_v2_corr**2) * rng.normal(size=500)
        (run_dir / "corr" / "v1_v2.json").write_text(json.dumps({"v1": v1.round(6).tolist(), "v2": v2.round(6).tolist()}))

        for k in range(3):
            _write_png(run_dir / "attention" / f"attn_{k:03d}.png", rng)
        run_map = _write_trec(run_dir, query_ids, trec_grades, profile.ranking_signal, rng)

        # What the job claims: recomputed by runnotary from the files above.
        p95_ms = float(np.quantile(np.loadtxt(run_dir / "latency.log", usecols=2), 0.95, method="inverted_cdf"))
        claims = {
            "ndcg@10": (float(np.loadtxt(run_dir / "per_query.csv", delimiter=",", skiprows=1, usecols=1).mean()), None, "per_query.csv"),
            "compliance@1": (float(compliance.mean()), "ratio", "per_query.csv"),
            "latency_p95_ms" if profile.latency_unit == "ms" else "latency_p95": (
                p95_ms if profile.latency_unit == "ms" else p95_ms / 1000.0, profile.latency_unit, "latency.log"),
            "visual_ablation_drop_pct": ((full - ablated) / full * 100, "pct", "ablation/visual.json"),
            "v1_v2_corr": (float(np.corrcoef(np.round(v1, 6), np.round(v2, 6))[0, 1]), None, "corr/v1_v2.json"),
            "map": (run_map, None, "trec/run.trec"),
        }
        (run_dir / "metrics.json").write_text(json.dumps({k: v[0] for k, v in claims.items()}, indent=2))

        kinds = {"per_query.csv": "per_query", "latency.log": "latency_log", "ablation/visual.json": "ablation",
                 "corr/v1_v2.json": "correlation", "metrics.json": "metrics",
                 "trec/run.trec": "trec_run", "trec/qrels.txt": "trec_qrels",
                 **{f"attention/attn_{k:03d}.png": "attention_plot" for k in range(3)}}
        event = {
            "experiment": experiment,
            "run_name": f"eval_retrieval_{prefix}_{created:%Y%m%d_%H%M}",
            "candidate_id": f"retrieval-{profile.name}",
            "role": profile.role,
            "owners": ["ml-retrieval@example.org"],
            "dataset": {"sha256": dataset_sha, "name": "queries-2026q4", "splits": split_hashes},
            "seeds": {"value": 42 + index if seeds_per_arm == 1 else 1000 * (index + 1) + j, "family": "retrieval-seeds-v1", "train_split_seed": 11, "test_split_seed": 13},
            "code": {"git_commit": hashlib.sha1(profile.name.encode()).hexdigest(), "dirty": False},
            "environment": {
                "env_hash": hashlib.sha256(f"env:{profile.name}".encode()).hexdigest(),
                "python_version": platform.python_version(),
                "cuda_version": "12.4",
                "requirements_hash": requirements,
                "hardware": "1x A100-80GB",
            },
            "params": {"model": "bi-encoder", "lr": 3e-5 * (1 + index), "epochs": 3, "variant": profile.name},
            "metrics": [
                {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}/{name}")), "name": name, "value": value,
                 "unit": unit, "source": f"{prefix}/{source}"}
                for name, (value, unit, source) in claims.items()
            ],
            "artifacts": [
                {"kind": kind, "path": f"{prefix}/{path}", "sha256": sha256_file(run_dir / path)[0]}
                for path, kind in kinds.items()
            ],
            "tags": {"domain": "quality", "agent_version": "v4.0", "dataset_type": "evaluation",
                     "evaluation_type": "comprehensive"},
            "created_at": (created + timedelta(seconds=j)).isoformat(),
        }
        events.append(RunCreated.model_validate(event))
    return events

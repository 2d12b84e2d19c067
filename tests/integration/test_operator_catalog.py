"""An operator's metric catalog through `runnotary serve`: a metric runnotary does not ship (recall@50 from a
TREC run and qrels) is registered, reproduced, compared and gated with no code change, and a malformed
catalog stops start-up naming the entry and the field."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.integration.harness import ServeProcess, Stream, publish, read_topic, run_values, serve_env
from tests.support import RUNNOTARY, meeting_requested_event
from runnotary.consumers.kafka import ensure_topics
from runnotary.consumers.settings import Settings
from runnotary.contract import TOPICS, MeetingRequested, RunCreated, encode
from runnotary.registry import ranking, ranking_files
from runnotary.registry.synthetic import generate

CATALOG = """
version: 1
metrics:
  - name: recall@50
    aliases: [recall_at_50, r@50]
    units: {ratio: 1.0, "": 1.0}
    direction: higher
    tolerance: 1.0e-6
    recipes:
      - {kind: trec_run, extractor: ranking, measure: recall, k: 50, relevance_level: 1}
"""

POLICY = """
version: 1
gates:
  - name: recall50_no_regression
    rules: [{source: delta_ci95_lower, metric: "recall@50", op: ">=", threshold: -0.05}]
  - name: recall50_floor
    rules: [{source: metric, metric: recall_at_50, op: ">=", threshold: 0.2}]
"""


def _recall50(folder: Path) -> ranking.PerQuery:
    judged = ranking.judge(ranking_files.read_run(folder / "trec" / "run.trec", 1 << 30),
                           ranking_files.read_qrels(folder / "trec" / "qrels.txt", 1 << 30))
    return ranking.evaluate(judged, "recall", 50)


def _claiming(run: RunCreated, root: Path) -> RunCreated:
    """The run with a recall@50 claim under the operator's alias, computed by the job from its TREC files."""
    prefix = run.artifacts[0].path.split("/")[0]
    data = run.model_dump(mode="json")
    data["metrics"].append({"uuid": str(uuid.uuid4()), "name": "recall_at_50", "value": _recall50(root / prefix).mean,
                            "source": f"{prefix}/trec/run.trec"})
    return RunCreated.model_validate(data)


def test_an_operator_metric_is_registered_reproduced_compared_and_gated(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = settings_factory(n_resamples=500)
    for topic, reason in ensure_topics(settings, TOPICS).items():
        raise AssertionError(f"{topic}: {reason}")
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "gates.yaml").write_text(POLICY)
    root = Path(settings.artifact_root)
    experiment = f"/tests/{settings.topic_prefix.rstrip('.')}_evaluation"
    baseline, candidate, _ = (_claiming(r, root) for r in generate(root, experiment=experiment, n_queries=200,
                                                                     n_requests=2000, seed=41))
    env = serve_env(settings, RUNNOTARY_METRIC_CATALOG=str(tmp_path / "catalog.yaml"),
                    RUNNOTARY_GATE_POLICY=str(tmp_path / "gates.yaml"))
    serve = ServeProcess(env, tmp_path / "serve.log").start()
    try:
        stream = Stream()
        for run in (baseline, candidate):
            stream.add(run)
        publish(settings, stream, run_values(stream))
        [(_, status_event)] = read_topic(settings, "gates.status", timeout=240, expect=1)
        status = status_event.data
        assert list(status.gates) == ["recall50_no_regression", "recall50_floor"]

        # Reproduced: the registered value is the recipe's on the run and qrels in MLflow.
        cand_prefix, base_prefix = (r.artifacts[0].path.split("/")[0] for r in (candidate, baseline))
        cand_values, base_values = _recall50(root / cand_prefix), _recall50(root / base_prefix)
        client = MlflowClient(settings.mlflow_tracking_uri)
        logged = client.get_run(status.candidate_run).data.metrics
        assert logged["recall_at_50"] == pytest.approx(cand_values.mean, abs=1e-12)

        # Compared per query (the queries both runs were judged on) and gated on the CI's lower bound.
        common, ci, bi = np.intersect1d(cand_values.query_ids, base_values.query_ids, return_indices=True)
        delta = float(np.mean(cand_values.values[ci] - base_values.values[bi]))
        floor, no_regression = status.gates["recall50_floor"], status.gates["recall50_no_regression"]
        assert floor.obs == pytest.approx(cand_values.mean, abs=1e-12) and floor.pass_ == (cand_values.mean >= 0.2)
        assert no_regression.rule == "delta_ci95_lower(recall@50) >= -0.05" and no_regression.obs is not None
        assert no_regression.obs < delta and no_regression.pass_ == (no_regression.obs >= -0.05)

        meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", candidates=[candidate.candidate_id],
                                   requested_by="r")
        publish(settings, stream, [("meetings.requested", encode(meeting_requested_event(meeting)), b"m")])
        [(_, emitted)] = read_topic(settings, "bundles.emitted", timeout=240, expect=1)
        decision = json.loads((Path(emitted.data.location) / "decision_metrics.json").read_text())
        [entry] = decision["candidates"]
        ab = entry["ab"]["metrics"]["recall@50"]
        assert ab["n"] == len(common) and ab["delta"] == pytest.approx(delta, abs=1e-12)
        assert ab["inputs"]["candidate"]["recipe"]["measure"] == "recall" and ab["inputs"]["candidate"]["recipe"]["k"] == 50
        assert entry["metrics"][status.candidate_run]["recall@50"]["where"]["extractor"] == "ranking"
        # verify-bundle re-derives the operator's metric with the catalog's recipe (RUNNOTARY_METRIC_CATALOG).
        verified = subprocess.run([RUNNOTARY, "verify-bundle", emitted.data.location], env=env, capture_output=True,
                                  text=True, timeout=300)
        assert verified.returncode == 0, verified.stderr[-3000:]
        assert "reproduces" in verified.stdout
    finally:
        assert serve.stop() == 0


def test_a_malformed_operator_catalog_stops_serve_naming_the_entry_and_field(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(CATALOG.replace("measure: recall, k: 50", "measure: recall"))
    env = serve_env(settings_factory(), RUNNOTARY_METRIC_CATALOG=str(bad))
    done = subprocess.run([RUNNOTARY, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "metric entry 'recall@50' (metrics[0]), field recipes[0]" in done.stderr
    assert "needs a cut-off k" in done.stderr

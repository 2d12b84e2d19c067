"""Classification metrics from per-example predictions and labels agree with scikit-learn; the per-example
means are paired by example id across runs, and verify-bundle re-derives them from the files."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runnotary.contract import RunCreated
from runnotary.registry import ArtifactError, Registry, spec_for
from runnotary.registry.classification import per_example, read_predictions, statistic
from runnotary.registry.recompute import recompute

metrics = pytest.importorskip("sklearn.metrics")


def _write(path: Path, seed: int, *, n: int = 500, labels: tuple[str, str] = ("0", "1"), jsonl: bool = False,
           skill: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    scores = np.clip(np.round(1 / (1 + np.exp(-(skill * (2 * y - 1) + rng.normal(size=n)))), 2), 0, 1)  # rounded: ties
    scores[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # the clipped ends of log loss, and the threshold itself
    predicted = (scores >= 0.5).astype(int)
    ids = [f"ex{i:05d}" for i in rng.permutation(n)]
    rows = [{"example_id": i, "label": labels[t], "prediction": labels[p], "score": float(s)}
            for i, t, p, s in zip(ids, y, predicted, scores)]
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text("example_id,label,prediction,score\n" + "".join(
            f"{r['example_id']},{r['label']},{r['prediction']},{r['score']}\n" for r in rows))
    order = np.argsort(ids)
    return y[order], predicted[order], scores[order]


@pytest.mark.parametrize("jsonl", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_each_measure_matches_scikit_learn(tmp_path: Path, seed: int, jsonl: bool) -> None:
    path = tmp_path / "pred.jsonl"
    y, predicted, scores = _write(path, seed, jsonl=jsonl)
    data = read_predictions(path, 1 << 24)
    expected = {
        "accuracy": metrics.accuracy_score(y, predicted), "error_rate": 1 - metrics.accuracy_score(y, predicted),
        "log_loss": metrics.log_loss(y, scores, labels=[0, 1]), "brier": metrics.brier_score_loss(y, scores),
        "f1": metrics.f1_score(y, predicted), "roc_auc": metrics.roc_auc_score(y, scores),
    }
    for measure, value in expected.items():
        assert statistic(data, measure) == pytest.approx(value, rel=1e-12, abs=1e-15), measure
        assert recompute(spec_for(measure), path) == pytest.approx(value, rel=1e-12, abs=1e-15), measure
    assert per_example(data, "brier").mean() == pytest.approx(expected["brier"], rel=1e-12)


def test_string_labels_and_a_score_threshold_without_a_prediction_column(tmp_path: Path) -> None:
    path = tmp_path / "pred.csv"
    y, predicted, scores = _write(path, 9, labels=("ham", "spam"))
    text = path.read_text().splitlines()
    path.write_text("\n".join(",".join(line.split(",")[i] for i in (0, 1, 3)) for line in text) + "\n")  # no prediction
    data = read_predictions(path, 1 << 24)
    assert statistic(data, "f1", positive_label="spam") == pytest.approx(metrics.f1_score(y, predicted))
    assert statistic(data, "accuracy", positive_label="spam") == pytest.approx(metrics.accuracy_score(y, predicted))
    assert statistic(data, "roc_auc", positive_label="spam") == pytest.approx(metrics.roc_auc_score(y, scores))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("example_id,label\ne1,1\n", "needs 'example_id', 'label' and 'prediction' and/or 'score'"),
        ("example_id,label,score\ne1,1,0.5\ne1,0,0.2\n", "example_id 'e1' repeats"),
        ("example_id,label,score\ne1,1,1.5\n", r"probabilities in \[0, 1\]"),
        ("example_id,label,score\ne1,1,0.5\ne2,1\n", r":3: row has 2 cells"),
    ],
)
def test_bad_prediction_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ArtifactError, match=message):
        read_predictions(path, 1 << 20)


def test_registered_compared_by_example_and_verified(tmp_path: Path, run_event: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    from runnotary.bundles import ComparisonSettings, compare
    from runnotary.bundles.evidence import write_bundle
    from runnotary.bundles.tables import CandidateEvidence
    from runnotary.bundles.verify import verify_bundle

    registry = Registry(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"), tmp_path / "root", tmp_path / "cache",
                        artifact_location=(tmp_path / "mlruns").as_uri())
    regs, truth = {}, {}
    for name, seed, role, skill in (("cls-c", 1, "candidate", 2.0), ("cls-b", 1, "baseline", 1.0)):
        (registry.artifact_root / name).mkdir(parents=True)
        y, predicted, scores = _write(registry.artifact_root / name / "pred.csv", seed, skill=skill)
        truth[name] = (y, predicted, scores)
        claims = {"accuracy": metrics.accuracy_score(y, predicted), "log_loss": metrics.log_loss(y, scores),
                  "roc_auc": metrics.roc_auc_score(y, scores), "f1": metrics.f1_score(y, predicted)}
        event = {**run_event, "run_name": name, "candidate_id": name, "role": role,
                 "metrics": [{"uuid": str(uuid.uuid4()), "name": k, "value": float(v), "source": f"{name}/pred.csv"}
                             for k, v in claims.items()],
                 "artifacts": [{"kind": "predictions", "path": f"{name}/pred.csv"}]}
        regs[name] = registry.register(RunCreated.model_validate(event), f"e-{name}")
        assert {m.name: m.status for m in regs[name].metrics} == {k: "verified" for k in claims}
    comparison = compare(registry, regs["cls-c"], regs["cls-b"], ComparisonSettings(n_resamples=500))
    accuracy = comparison.metrics["accuracy"]
    (yc, pc, _), (yb, pb, _) = truth["cls-c"], truth["cls-b"]
    assert accuracy["n"] == 500 and accuracy["delta"] == pytest.approx(np.mean(pc == yc) - np.mean(pb == yb))
    assert "log_loss" in comparison.metrics
    (_, _, sc), (_, _, sb) = truth["cls-c"], truth["cls-b"]
    for name, oracle, cand, base in (("roc_auc", metrics.roc_auc_score, sc, sb), ("f1", metrics.f1_score, pc, pb)):
        entry = comparison.metrics[name]  # not a per-example mean: examples resampled, the statistic recomputed
        assert entry["delta"] == pytest.approx(oracle(yc, cand) - oracle(yb, base), abs=1e-12)
        assert entry["bootstrap"]["statistic"] == name and entry["method"] == "bca" and entry["pvalue"] is None
        assert entry["ci95"][0] < entry["delta"] < entry["ci95"][1]
        assert entry["inputs"]["pairing"].startswith("inner join on example_id")
    assert set(comparison.holm["metrics"]) == {"accuracy", "log_loss"}  # type: ignore[index]
    from runnotary.bundles import evaluate

    status = evaluate(regs["cls-c"], comparison)
    write_bundle(registry, tmp_path / "bundles", "m-cls", [CandidateEvidence(regs["cls-c"], regs["cls-b"], comparison, status)])
    report = verify_bundle(tmp_path / "bundles" / "m-cls", registry.client.tracking_uri)
    assert report.findings == [] and report.numbers == 8, report.findings
    bundle = tmp_path / "bundles" / "m-cls" / "decision_metrics.json"
    recorded = json.loads(bundle.read_text())
    recorded["candidates"][0]["ab"]["metrics"]["roc_auc"]["bootstrap"]["low"] -= 0.01
    bundle.write_text(json.dumps(recorded))
    report = verify_bundle(tmp_path / "bundles" / "m-cls", registry.client.tracking_uri)
    assert [f.item for f in report.findings] == ["candidates[0](cls-c).ab.metrics[roc_auc].bootstrap.low",
                                                 "candidates[0](cls-c).ab.metrics[roc_auc].ci95[0]"]

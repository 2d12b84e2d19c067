"""HTTP calls one registration makes, and what a comparison then fetches back, by endpoint.

Run ``python -m benchmarks.registry_calls`` from the repository root (PostgreSQL at 127.0.0.1:5432,
trust auth). It starts a throwaway ``mlflow server``, registers the demo's baseline and two
candidates (the first registration warms the experiment lookup), then, as the service does for a
candidate, loads its baseline and fetches both runs' per-query CSV and latency log. It prints the
calls of one candidate registration and of that comparison's fetches. Counts, not times.
"""

from __future__ import annotations

import collections
import os
import tempfile
import uuid
from pathlib import Path

import requests
from mlflow.tracking import MlflowClient

from benchmarks.servers import throwaway_mlflow_server
from runnotary.registry import Registry
from runnotary.registry.synthetic import generate

_calls: collections.Counter[str] = collections.Counter()
_send = requests.Session.request


def _counting(self: requests.Session, method: str, url: str, *args: object, **kwargs: object) -> requests.Response:
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    _calls[f"{method} /{path.split('/artifacts/', 1)[0]}/artifacts/…" if "mlflow-artifacts/" in path else f"{method} /{path}"] += 1
    return _send(self, method, url, *args, **kwargs)  # type: ignore[arg-type]


def _report(title: str) -> None:
    print(f"{title}: {sum(_calls.values())} HTTP calls")
    for key, count in sorted(_calls.items()):
        print(f"  {count:3d}  {key}")
    _calls.clear()


def main() -> None:
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    with tempfile.TemporaryDirectory() as tmp, throwaway_mlflow_server(
        Path(tmp), extra_args=["--workers", "2", "--gunicorn-opts", "--threads 4 --timeout 120"]
    ) as (url, _):
        root = Path(tmp) / "artifacts"
        baseline, cand_a, _cand_b = generate(root, n_queries=500, n_requests=2000, experiment="/bench/calls_evaluation")
        registry = Registry(client=MlflowClient(url), artifact_root=root, cache_dir=Path(tmp) / "cache")
        base = registry.register(baseline, str(uuid.uuid4()))
        requests.Session.request = _counting  # type: ignore[method-assign]
        try:
            candidate = registry.register(cand_a, str(uuid.uuid4()))
            _report("one candidate registration")
            loaded = registry.load(base.run_id)
            for registration in (candidate, loaded):
                for artifact in registration.artifacts:
                    if artifact.kind in ("per_query", "latency_log"):
                        registry.fetch(registration, artifact.path)
            _report("its comparison's fetches (load the baseline, per-query CSV and latency log of both runs)")
            _service_paths(registry, root)
        finally:
            requests.Session.request = _send  # type: ignore[method-assign]


def _service_paths(registry: Registry, root: Path) -> None:
    """What the service's handler makes of a candidate event: with its baseline registered (the common
    path: one look before the mark, the pairing in the mark's request) and with none yet (a second
    look after the mark, then the awaiting alert)."""
    from runnotary.bundles import ComparisonSettings
    from runnotary.consumers.handlers import Handlers
    from runnotary.consumers.metrics import ServiceMetrics
    from runnotary.contract import envelope

    handlers = Handlers(registry=registry, settings=ComparisonSettings(1000, 0.95, "percentile", 1),
                        bundle_root=root / "bundle", metrics=ServiceMetrics())
    baseline, cand_a, _ = generate(root / "paths", n_queries=500, n_requests=2000, experiment="/bench/calls_evaluation")
    handlers.register_run(envelope("runs.created", baseline, subject="b"))
    _calls.clear()
    paired = cand_a.model_copy(update={"candidate_id": f"paired-{uuid.uuid4().hex[:6]}"})
    handlers.register_run(envelope("runs.created", paired, subject=paired.candidate_id))
    _report("the service's handling of a candidate whose baseline is registered (registration, pairing, results)")
    alone = cand_a.model_copy(update={"candidate_id": f"alone-{uuid.uuid4().hex[:6]}",
                                      "dataset": cand_a.dataset.model_copy(update={"sha256": "f" * 64})})
    handlers.register_run(envelope("runs.created", alone, subject=alone.candidate_id))
    _report("the service's handling of a candidate with no baseline yet (registration, two looks)")


if __name__ == "__main__":
    main()

"""The registry tier: the real ``Registry`` and ``Handlers`` on a local MLflow store in ``tmp_path``.

SQLite and a local artifact folder, no server and no broker: what does not need one is tested here,
so the integration tier keeps only what needs a broker or a server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from runnotary.bundles import ComparisonSettings
from runnotary.consumers.handlers import Handlers
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.registry import Registry


@pytest.fixture
def local_registry(tmp_path: Path) -> Callable[..., Registry]:
    """Build a ``Registry`` (or a subclass) on a SQLite store under ``tmp_path``; artifacts under ``tmp_path/jobs``."""

    def make(cls: type[Registry] = Registry) -> Registry:
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        return cls(client=client, artifact_root=tmp_path / "jobs", cache_dir=tmp_path / "cache",
                   artifact_location=(tmp_path / "mlartifacts").as_uri())

    return make


@pytest.fixture
def local_handlers(tmp_path: Path) -> Callable[[Registry], Handlers]:
    def make(registry: Registry) -> Handlers:
        return Handlers(registry=registry, settings=ComparisonSettings(500, 0.95, "percentile", 7),
                        bundle_root=tmp_path / "bundle", metrics=ServiceMetrics())

    return make

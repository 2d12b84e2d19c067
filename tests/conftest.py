"""Shared test helpers (no fixtures that start processes live here; see tests/integration)."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.support import sha256_text


@pytest.fixture
def run_event() -> dict[str, Any]:
    """A valid runs.created payload (a dict, so tests can break one field at a time)."""
    return copy.deepcopy({
        "experiment": "/Shared/unit",
        "run_name": "eval_unit_20261123_1000",
        "candidate_id": "cand-unit",
        "role": "candidate",
        "owners": ["team@example.org"],
        "dataset": {"sha256": sha256_text("data"), "name": "queries", "splits": {"train": sha256_text("train"), "test": sha256_text("test")}},
        "seeds": {"value": 1, "family": "fam", "train_split_seed": 1, "test_split_seed": 2},
        "code": {"git_commit": "a" * 40, "dirty": False},
        "environment": {"env_hash": sha256_text("env"), "python_version": "3.11.7", "cuda_version": None,
                        "requirements_hash": sha256_text("req"), "hardware": "cpu"},
        "params": {"lr": 0.1},
        "metrics": [{"uuid": str(uuid.uuid4()), "name": "ndcg@10", "value": 0.5, "unit": None, "source": "r/per_query.csv"}],
        "artifacts": [{"kind": "per_query", "path": "r/per_query.csv", "sha256": None}],
        "tags": {"domain": "quality", "agent_version": "v4.0", "dataset_type": "evaluation", "evaluation_type": "smoke"},
        "created_at": datetime.now(timezone.utc).isoformat(),
    })

"""What a bundle records about the store it was built from never carries a credential."""

from __future__ import annotations

import pytest

from runnotary.bundles.evidence import public_uri


@pytest.mark.parametrize(("uri", "public"), [
    ("https://alice:s3cret@mlflow.internal:5000/", "https://mlflow.internal:5000/"),
    ("https://token@mlflow.internal", "https://mlflow.internal"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db"),
    ("postgresql://mlflow:pw@db:5432/mlflow", "postgresql://db:5432/mlflow"),
    ("https://mlflow.internal/?token=abc123", "https://mlflow.internal/?token=***"),
])
def test_public_uri_drops_userinfo_and_redacts_secrets(uri: str, public: str) -> None:
    assert public_uri(uri) == public
    assert "s3cret" not in public_uri(uri) and "abc123" not in public_uri(uri)

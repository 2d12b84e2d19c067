"""The AsyncAPI document, validated by the official AsyncAPI CLI (from npm) and checked against the service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runnotary.contract import TOPICS
from runnotary.contract._schemas import asyncapi

SCHEMAS = Path(__file__).resolve().parents[2] / "consumers" / "schemas"
CLI = "@asyncapi/cli@4.1.1"
HOW_CI_INSTALLS = ("the official AsyncAPI CLI runs through npx: install Node.js 20+ (CI: actions/setup-node), "
                   f"then `npx -y {CLI} validate consumers/schemas/asyncapi.json` fetches it into ~/.npm")


def _validate(document: Path) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail(f"npx not found: {HOW_CI_INSTALLS}")
    return subprocess.run([npx, "-y", CLI, "validate", str(document), "--fail-severity", "warn",
                           "--diagnostics-format", "text"],
                          capture_output=True, text=True, timeout=600, cwd=document.parent,
                          env={**os.environ, "npm_config_update_notifier": "false"})


def test_official_cli_validates_the_document_with_no_errors_or_warnings() -> None:
    result = _validate(SCHEMAS / "asyncapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_official_cli_refuses_a_broken_document(tmp_path: Path) -> None:
    """The check can fail: an operation with an action AsyncAPI 3 does not have is reported."""
    for schema in SCHEMAS.glob("*.json"):
        shutil.copy(schema, tmp_path / schema.name)
    document = json.loads((SCHEMAS / "asyncapi.json").read_text())
    document["operations"]["receiveRunsCreated"]["action"] = "subscribe"
    (tmp_path / "asyncapi.json").write_text(json.dumps(document))
    result = _validate(tmp_path / "asyncapi.json")
    assert result.returncode != 0
    assert "action" in result.stdout + result.stderr


def test_operations_follow_the_service_and_the_prefix_is_a_parameter() -> None:
    document = asyncapi()
    for name, spec in TOPICS.items():
        key = name.replace(".", "_")
        channel = document["channels"][key]
        assert channel["address"] == "{prefix}" + name and "prefix" in channel["parameters"]
        actions = [op["action"] for op in document["operations"].values() if op["channel"]["$ref"] == f"#/channels/{key}"]
        assert actions == ["receive" if spec.direction == "in" else "send"]
        message = document["components"]["messages"][key]
        assert message["payload"]["schemaFormat"].startswith("application/schema+json")
        assert message["headers"]["properties"]["content-type"]["pattern"].startswith("^application/cloudevents")
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        if spec.direction == "in":  # inputs are accepted in binary mode too
            binary = document["components"]["messages"][f"{key}_binary"]
            assert binary["headers"]["properties"]["ce_type"] == {"const": spec.event_type}
    assert document["servers"]["kafka"]["protocol"] == "kafka"
    assert "kafka" in document["servers"]["kafka"]["bindings"]

"""The production layout (compose file, Kubernetes manifests, Dockerfiles), checked statically."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from runnotary.consumers.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
SETTINGS = {f"RUNNOTARY_{name.upper()}" for name in Settings.model_fields}
#: A variable name as the service reads it; ``${RUNNOTARY_X...}`` is compose interpolation of the host's
#: environment (e.g. RUNNOTARY_HOST_ARTIFACTS), which the service never reads.
VARIABLE = re.compile(r"(?<![\w{])RUNNOTARY_[A-Z0-9_]*[A-Z0-9]")


class StrictSettings(Settings):
    """Settings that refuse an unknown key: the service's own model ignores them, so a typo would pass."""

    model_config = SettingsConfigDict(env_prefix="RUNNOTARY_", extra="forbid")


def layout_settings(env: dict[str, Any]) -> Settings:
    return StrictSettings(**{k.removeprefix("RUNNOTARY_").lower(): v for k, v in env.items()})


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in documents(path)]


def compose() -> dict[str, Any]:
    return documents(COMPOSE)[0]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def containers(kind: str | None = None) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in manifests():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        if kind is None or doc["kind"] == kind:
            for container in spec.get("containers", []):
                yield doc, container


def k8s_env() -> dict[str, Any]:
    """Every variable the manifests set: container env entries and ConfigMap data."""
    found: dict[str, Any] = {}
    for _, container in containers():
        for entry in container.get("env", []):
            found[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    for doc in manifests():
        if doc["kind"] == "ConfigMap":
            found.update({k: v for k, v in doc.get("data", {}).items() if k.startswith("RUNNOTARY_")})
    return found


def dockerfile_env() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in (DEPLOY / "docker").glob("*.Dockerfile"):
        text = path.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            if line.startswith("ENV "):
                found.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return found


def test_every_yaml_and_json_file_in_deploy_parses() -> None:
    files = sorted(DEPLOY.rglob("*.y*ml"))
    assert len(files) >= 10
    for path in files:
        assert documents(path), path
    for path in DEPLOY.rglob("*.json"):
        json.loads(path.read_text())


def test_every_runnotary_variable_set_is_one_the_service_reads() -> None:
    service_env = {k: v for s in compose()["services"].values() for k, v in (s.get("environment") or {}).items()}
    for source, env in (("compose", service_env), ("kubernetes", k8s_env()), ("Dockerfile", dockerfile_env())):
        used = {name for name in env if name.startswith("RUNNOTARY_")}
        assert used, source
        assert used <= SETTINGS, f"{source} sets variables runnotary does not read: {sorted(used - SETTINGS)}"


def test_every_variable_settings_accepts_from_the_layouts() -> None:
    """The values themselves validate: the Settings model accepts the compose and Kubernetes environment."""
    layout_settings(compose()["services"]["runnotary"]["environment"])
    layout_settings({k: v for k, v in k8s_env().items() if k.startswith("RUNNOTARY_") and isinstance(v, str)})


def test_a_misspelled_variable_is_refused_by_the_layout_check() -> None:
    with pytest.raises(ValidationError, match="metrics_adr"):
        layout_settings({"RUNNOTARY_METRICS_ADR": "0.0.0.0"})
    assert VARIABLE.findall("RUNNOTARY_METRCS_ADDR=1 ${RUNNOTARY_HOST_ARTIFACTS:-x} KAFKA_RUNNOTARY_PASSWORD RUNNOTARY_*") \
        == ["RUNNOTARY_METRCS_ADDR"]


def test_every_runnotary_variable_named_anywhere_in_deploy_is_a_setting() -> None:
    """Manifests, compose, Dockerfiles, scripts, docs: a misspelled name anywhere under deploy/ fails here."""
    named: dict[str, set[str]] = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # images
        for name in VARIABLE.findall(text):
            named.setdefault(name, set()).add(str(path.relative_to(DEPLOY)))
    assert len(named) >= 10
    unknown = {name: sorted(files) for name, files in named.items() if name not in SETTINGS}
    assert not unknown, f"variables runnotary does not read: {unknown}"


def test_images_are_pinned() -> None:
    images = [s["image"] for s in compose()["services"].values()] + [c["image"] for _, c in containers()]
    images += [line.split()[1] for p in (DEPLOY / "docker").glob("*.Dockerfile") for line in p.read_text().splitlines()
               if line.startswith("FROM ")]
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag != "latest" and re.search(r"\d", tag), f"{image} is not pinned to a version"


def test_passwords_come_from_the_environment_or_secret_stores() -> None:
    for name, value in compose()["services"]["runnotary"]["environment"].items():
        if "PASSWORD" in name:
            assert value.startswith("${"), name
    for service in compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if "PASSWORD" in name:
                assert str(value).startswith("${"), f"compose {name} is a literal"
    for _, container in containers():
        for entry in container.get("env", []):
            if "PASSWORD" in entry["name"]:
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"kubernetes {entry['name']} is not from a Secret"
    for doc in manifests():
        if doc["kind"] == "ConfigMap":
            assert not [k for k in doc.get("data", {}) if "PASSWORD" in k], doc["metadata"]["name"]
    example = (DEPLOY / "compose" / ".env.example").read_text()
    assert all(line.endswith("=") for line in example.splitlines() if line and not line.startswith("#"))


def test_runnotary_runs_several_replicas_in_one_group_over_sasl_ssl() -> None:
    service = compose()["services"]["runnotary"]
    assert service["deploy"]["replicas"] >= 2
    env = service["environment"]
    assert env["RUNNOTARY_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["RUNNOTARY_GROUP_ID"]
    assert env["RUNNOTARY_METRICS_ADDR"] == "0.0.0.0"
    deployment = next(d for d, c in containers("Deployment") if d["metadata"]["name"] == "runnotary")
    assert deployment["spec"]["replicas"] >= 2
    k8s = k8s_env()
    assert k8s["RUNNOTARY_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and k8s["RUNNOTARY_GROUP_ID"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_kafka_runs_in_kraft_mode_without_zookeeper() -> None:
    texts = COMPOSE.read_text() + "".join(p.read_text() for p in K8S.glob("*.yaml"))
    assert "zookeeper" not in texts.lower()
    assert compose()["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    _, kafka = next((d, c) for d, c in containers("StatefulSet") if c["name"] == "kafka")
    roles = next(e["value"] for e in kafka["env"] if e["name"] == "KAFKA_PROCESS_ROLES")
    assert "controller" in roles


@pytest.mark.parametrize("args", [
    lambda: compose()["services"]["mlflow"]["command"],
    lambda: next(c for _, c in containers() if c["name"] == "mlflow")["args"],
], ids=["compose", "kubernetes"])
def test_mlflow_server_runs_under_gunicorn_on_postgresql(args: Any) -> None:
    command = " ".join(args())
    assert "--backend-store-uri=postgresql+psycopg://" in command
    assert "--gunicorn-opts=" in command and "--workers=" in command


def test_kustomization_and_compose_mounts_point_at_files_that_exist() -> None:
    kustomization = documents(DEPLOY / "kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (DEPLOY / file).is_file(), file
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("../"):
                assert (COMPOSE.parent / source).exists(), volume
    assert "/etc/prometheus/rules.yml" in documents(DEPLOY / "prometheus" / "prometheus.yml")[0]["rule_files"]

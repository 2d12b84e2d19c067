"""MLflow failures are classified by status code and exception type, and their text is redacted."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST

from runnotary.registry.mlflow_access import classify, configure_mlflow_http, experiment_slug


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} error", response=response)


def _wrapped(inner: BaseException) -> MlflowException:
    """What MLflow's http_request raises around a requests failure (implicit chaining, no ``from``)."""
    try:
        raise inner
    except BaseException:
        try:
            raise MlflowException("API request to http://u:p@mlflow/api/2.0 failed with exception boom")
        except MlflowException as outer:
            return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_http_error(503), "unavailable"),
        (_http_error(500), "unavailable"),
        (_http_error(429), "unavailable"),
        (_http_error(413), "refused"),
        (_http_error(403), "refused"),
        (_wrapped(requests.ConnectionError("refused")), "unavailable"),
        (_wrapped(requests.exceptions.RetryError("too many 503")), "unavailable"),
        (MlflowException("timeout", error_code=INVALID_PARAMETER_VALUE), "refused"),
        (RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "db down"}), "unavailable"),
        (RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no run"}), "refused"),
        # A proxy's HTML page: MLflow guesses INTERNAL_ERROR for 413, the text keeps the real status.
        (MlflowException("API request to endpoint /api/2.0/mlflow/runs/log-batch failed with error code 413 != 200. "
                         "Response body: '<html>too large</html>'"), "refused"),
        (MlflowException("API request to endpoint /x failed with error code 403 != 200. Response body: 'no'",
                         error_code=PERMISSION_DENIED), "refused"),
        (ConnectionRefusedError(), "unavailable"),
        (TimeoutError(), "unavailable"),
        (ValueError("not a tracking failure"), None),
    ],
)
def test_errors_are_classified_by_status_and_type(exc: BaseException, kind: str | None) -> None:
    assert classify(exc) == kind


def test_the_old_text_heuristic_is_gone() -> None:
    """Before: any message with 'API request to' was transient, so a refusal was retried forever."""
    refusal = MlflowException("API request to endpoint /x failed with error code 401 != 200. Response body: 'x'")
    assert classify(refusal) == "refused"
    assert classify(MlflowException("No such artifact", error_code=RESOURCE_DOES_NOT_EXIST)) == "refused"


def test_configure_mlflow_http_sets_mlflow_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD",
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        monkeypatch.delenv(name, raising=False)
    configure_mlflow_http(max_retries=0, timeout_s=2.5)
    assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_HTTP_REQUEST_TIMEOUT.get()) == (0, 3)
    assert os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == "false"
    with pytest.raises(ValueError, match="max_retries"):
        configure_mlflow_http(max_retries=-1)


def test_modules_that_are_not_installed_fail_to_import_without_a_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow probes for a Databricks runtime with imports on every HTTP request; a missing module is
    remembered as missing, an installed one is left alone."""
    import importlib
    import sys

    from runnotary.registry.mlflow_access import remember_absent_modules

    absent = f"runnotary_absent_{os.getpid()}"
    monkeypatch.delitem(sys.modules, absent, raising=False)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)  # installed (stdlib), rarely imported
    remember_absent_modules((absent, "colorsys"))
    assert absent in sys.modules and sys.modules[absent] is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(absent)
    assert sys.modules.get("colorsys", "not imported") is not None
    assert importlib.import_module("colorsys").rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    monkeypatch.delitem(sys.modules, absent)


@pytest.mark.parametrize("name", ["..", ".", "...", "../..", "/", "a/../../b", "../etc", ".hidden", "", "//.."])
def test_experiment_slug_never_leaves_the_artifact_root(name: str) -> None:
    """Before: an experiment named '..' gave an artifact location above mlartifacts/."""
    slug = experiment_slug(name)
    assert slug and "/" not in slug and not slug.startswith(".") and set(slug) != {"."}
    assert os.path.normpath(os.path.join("/root", slug)).startswith("/root/")


def test_slug_keeps_readable_names() -> None:
    assert experiment_slug("/Shared/health_monitor_agent_evaluation") == "Shared_health_monitor_agent_evaluation"


def test_tracking_errors_are_redacted(tmp_path: Any) -> None:
    from mlflow.tracking import MlflowClient

    from runnotary.registry import RegistryError, Registry, TrackingUnavailable

    seen: list[tuple[str, float, str | None]] = []
    registry = Registry(MlflowClient("http://u:p@127.0.0.1:9"), tmp_path, tmp_path / "cache",
                        observer=lambda op, s, kind: seen.append((op, s, kind)))
    with pytest.raises(TrackingUnavailable) as info:
        with registry.mlflow.operation("list experiments"):
            raise _wrapped(requests.ConnectionError("refused"))
    assert "u:p@" not in str(info.value) and "***@" in str(info.value)
    with pytest.raises(RegistryError):
        with registry.mlflow.operation("upload an artifact"):
            raise _http_error(403)
    assert [(op, kind) for op, _, kind in seen] == [("list experiments", "unavailable"), ("upload an artifact", "refused")]

"""MLflow access: its HTTP settings, the one classifier of its failures, and the calls every part shares.

MLflow failures are classified by status code and exception type: 5xx, 408/429, connection errors
and timeouts are ``TrackingUnavailable`` (retry later), any other 4xx a ``RegistryError`` naming
the reason. Every error text is redacted.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from runnotary.errors import redact
from runnotary.registry.errors import RegistryError, TrackingUnavailable

T = TypeVar("T")

__all__ = [
    "EXPERIMENT_TAGS", "InFlight", "MLFLOW_ERRORS", "MlflowAccess", "Observer", "classify", "configure_mlflow_http",
    "experiment_slug", "http_status", "is_not_found", "remember_absent_modules", "tracking_error",
]

#: Tags of the experiments runnotary creates: MLflow 3's UI opens a ``custom_model_development``
#: experiment on its runs (without the tag it may open on the GenAI overview); older servers just keep the tag.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
_STATUS_IN_TEXT = re.compile(r"failed with error code (\d{3})")
_ERROR_TEXT_MAX = 600

#: Called once per MLflow operation with (operation, seconds, None or "unavailable"/"refused"/"error").
Observer = Callable[[str, float, "str | None"], None]


def configure_mlflow_http(max_retries: int = 0, timeout_s: float = 10.0) -> None:
    """Bound MLflow's own HTTP retries and timeout, so the caller's backoff is the one that runs.

    Sets MLflow's documented environment variables (``mlflow.environment_variables``):
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (whole seconds, at
    least 1). Unless already set, it also turns off the proxied multipart-download probe (one
    ``/server-info`` call per run) and the run URL MLflow prints to stdout when a run ends (one
    ``runs/get`` per run). MLflow reads these per request, so calling this at service start is enough.
    """
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, not {max_retries}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, not {timeout_s}")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout_s)))
    os.environ.setdefault("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    remember_absent_modules(_DATABRICKS_PROBES)


#: Modules MLflow's request-header providers try to import on every HTTP call to detect a Databricks
#: notebook, job or cluster (mlflow.utils.databricks_utils).
_DATABRICKS_PROBES = ("dbruntime", "pyspark", "IPython")


def remember_absent_modules(names: tuple[str, ...]) -> None:
    """Make the import of a module that is not installed fail at once instead of searching ``sys.path``.

    Python caches successful imports only: a missing module is searched for again, on every path
    entry, at every ``import``. MLflow probes for a Databricks runtime that way several times per
    HTTP request (about 2.4 ms of CPU per request here, a tenth of the service's). A ``None`` entry
    in ``sys.modules`` is Python's own way to say "not importable" (``ModuleNotFoundError`` at once);
    it is set only for modules that are not installed, so nothing that exists is hidden.
    """
    import importlib.util
    import sys

    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status a failed MLflow call answered with, when it says."""
    if isinstance(exc, requests.HTTPError):
        return exc.response.status_code if exc.response is not None else None
    if isinstance(exc, MlflowException):
        # A non-JSON error page (a proxy's 403/413) keeps its real status only in the text.
        found = _STATUS_IN_TEXT.search(exc.message)
        return int(found.group(1)) if found else exc.get_http_status_code()
    return None


def is_not_found(exc: BaseException) -> bool:
    """Whether a failed read means "no such file or run" (a 404, or a local store's missing file)."""
    return isinstance(exc, FileNotFoundError) or http_status(exc) == 404


def classify(exc: BaseException) -> str | None:
    """``"unavailable"`` (transient), ``"refused"`` (permanent) or ``None`` (not a tracking-store failure).

    Connection errors and timeouts anywhere in the exception's chain, 5xx, 408 and 429 are
    transient; every other HTTP status is a refusal.
    """
    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError, ConnectionError, TimeoutError)
    if any(isinstance(e, transient) for e in _chain(exc)):
        return "unavailable"
    status = http_status(exc)
    if status is None:
        return None
    return "unavailable" if status >= 500 or status in (408, 429) else "refused"


#: What a failed MLflow call raises (its client, its HTTP layer, the socket); ``tracking_error`` says what it means.
MLFLOW_ERRORS = (MlflowException, requests.RequestException, ConnectionError, TimeoutError)


def tracking_error(exc: BaseException, operation: str) -> TrackingUnavailable | RegistryError:
    """What a failed MLflow call becomes, by ``classify``: ``TrackingUnavailable`` (retry later) or
    ``RegistryError`` (refused for good, with MLflow's redacted reason). Raise it ``from exc``."""
    kind = classify(exc)
    text = _error_text(exc)
    if kind == "unavailable":
        return TrackingUnavailable(f"MLflow did not answer while trying to {operation}: {text}")
    if kind == "refused":
        return RegistryError(f"MLflow refused to {operation}: {text}")
    return RegistryError(f"MLflow failed to {operation}: {text}")


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > _ERROR_TEXT_MAX:
        text = text[:_ERROR_TEXT_MAX] + "…"
    return redact(text)


def experiment_slug(name: str) -> str:
    """A single, safe path component for an experiment's artifact folder.

    Anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_`` (slashes included), and
    leading/trailing dots, dashes and underscores are stripped, so no slug is ``.``, ``..`` or
    hidden, and none leaves the artifact root.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return slug or "experiment"


@dataclass(frozen=True)
class InFlight:
    """MLflow calls started on the I/O threads (``MlflowAccess.start``): ``wait`` for them, or ``cancel`` them."""

    futures: tuple[Future[None], ...] = ()

    def wait(self) -> None:
        """Wait for every call. If any failed, an outage is raised before a refusal (the event is then
        retried, not refused)."""
        failed = [e for e in (f.exception() for f in self.futures) if e is not None]
        if failed:
            raise next((e for e in failed if isinstance(e, TrackingUnavailable)), failed[0])

    def cancel(self) -> None:
        """Drop the calls not started yet and wait for the others, whatever they end with."""
        for future in self.futures:
            future.cancel()
        wait(self.futures)


@dataclass
class MlflowAccess:
    """One MLflow tracking store as the registry's parts call it.

    Every call runs inside ``operation``: its failure classified (``tracking_error``), its text
    redacted, its name, duration and outcome told to ``observer`` (which must not raise).
    ``together`` runs independent calls on at most ``io_threads`` threads, shared by every caller, and waits
    for them; ``start`` returns them in flight; ``look`` starts a read on ``look_threads`` threads of their own.
    Experiments are created under ``artifact_location`` (one folder per experiment) when it is set.
    """

    client: MlflowClient
    artifact_location: str | None = None
    observer: Observer | None = None
    io_threads: int = 4
    look_threads: int = 8
    _experiments: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _io: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _looks: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    @contextmanager
    def operation(self, name: str) -> Iterator[None]:
        """Run one MLflow operation: classify its failure, redact its text, tell the observer."""
        started = time.perf_counter()
        kind: str | None = None
        try:
            yield
        except MLFLOW_ERRORS as exc:
            kind = classify(exc) or "error"
            raise tracking_error(exc, name) from exc
        except BaseException:
            kind = "error"
            raise
        finally:
            if self.observer is not None:
                self.observer(name, time.perf_counter() - started, kind)

    def together(self, calls: list[Callable[[], None]]) -> None:
        """Run independent MLflow calls on the I/O threads and wait for all of them (``InFlight.wait``)."""
        self.start(calls).wait()

    def start(self, calls: list[Callable[[], None]]) -> InFlight:
        """Start independent MLflow calls on the I/O threads; the caller works on and waits for them later."""
        with self._lock:
            if self._io is None:
                self._io = ThreadPoolExecutor(self.io_threads, thread_name_prefix="runnotary-mlflow")
            pool = self._io
        return InFlight(tuple(pool.submit(call) for call in calls))

    def look(self, call: Callable[[], T]) -> Future[T]:
        """Start a read (a lookup) on threads of its own, so it never waits behind the uploads in flight."""
        with self._lock:
            if self._looks is None:
                self._looks = ThreadPoolExecutor(self.look_threads, thread_name_prefix="runnotary-look")
            looks = self._looks
        return looks.submit(call)

    def log_batch(
        self, run_id: str, *, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None, timestamp: int = 0,
    ) -> None:
        """Write params, metrics and tags in as few requests as MLflow allows (call inside ``operation``)."""
        # MLflow caps one batch at 100 params, 100 tags and 1000 metrics; the tags go in the last
        # batch, so a ``registered`` tag is written only with (after) everything else.
        p = [Param(k, v) for k, v in (params or {}).items()]
        t = [RunTag(k, v) for k, v in (tags or {}).items()]
        m = [Metric(k, v, timestamp, 0) for k, v in (metrics or {}).items()]
        batches = max(-(-len(p) // 100), -(-len(t) // 100), -(-len(m) // 1000), 1)
        tag_batches = max(-(-len(t) // 100), 1)
        first_tags = batches - tag_batches
        for i in range(batches):
            j = i - first_tags
            self.client.log_batch(
                run_id, metrics=m[i * 1000 : (i + 1) * 1000], params=p[i * 100 : (i + 1) * 100],
                tags=t[j * 100 : (j + 1) * 100] if j >= 0 else [],
            )

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created if absent; another worker creating it at the same moment is
        not an error (its experiment is used). Kept for the access's lifetime."""
        with self._lock:
            known = self._experiments.get(name)
        if known is not None:
            return known
        with self.operation("find the experiment"):
            found = self.client.get_experiment_by_name(name)
        if found is not None:
            experiment_id: str = found.experiment_id
        else:
            location = f"{self.artifact_location.rstrip('/')}/{experiment_slug(name)}" if self.artifact_location else None
            try:
                with self.operation("create the experiment"):
                    experiment_id = self.client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
            except RegistryError:
                with self.operation("find the experiment"):
                    found = self.client.get_experiment_by_name(name)  # another worker created it first
                if found is None:
                    raise
                experiment_id = found.experiment_id
        with self._lock:
            self._experiments[name] = experiment_id
        return experiment_id

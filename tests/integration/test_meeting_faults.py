"""A meeting against a real `mlflow server` when part of it fails: a candidate whose evidence is gone, and
an MLflow that refuses the bundle upload (a 403 from a gateway in front of it)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from tests.support import meeting_message, meeting_requested_event, run_created_event, send
from runnotary.bundles import ComparisonSettings
from runnotary.consumers.handlers import Handlers
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.contract import MeetingRequested, decode
from runnotary.registry import Registry
from runnotary.registry.records import PROVENANCE_PATH
from runnotary.registry.synthetic import generate


class RefusingGateway:
    """An HTTP reverse proxy in front of the real MLflow server that answers 403 to every artifact upload
    under ``bundle/`` (as a gateway refusing a path would) and relays everything else unchanged."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.refused: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _relay(self) -> None:
                body = self._body()
                if self.command == "PUT" and "/bundle/" in self.path:
                    gateway.refused.append(self.path)
                    self._answer(403, {"Content-Type": "text/html"}, b"<html><body>403 Forbidden</body></html>")
                    return
                skip = {"host", "content-length", "transfer-encoding", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                answer = requests.request(self.command, gateway.upstream + self.path, data=body, headers=headers,
                                          timeout=120, allow_redirects=False)
                drop = skip | {"content-encoding", "date", "server"}  # requests has decoded the body already
                self._answer(answer.status_code, {k: v for k, v in answer.headers.items() if k.lower() not in drop},
                             answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def refusing_gateway(mlflow_server: str) -> Iterator[RefusingGateway]:
    gateway = RefusingGateway(mlflow_server)
    gateway.thread.start()
    yield gateway
    gateway.server.shutdown()
    gateway.server.server_close()


def _handlers(tracking_uri: str, tmp_path: Path, cache: str) -> Handlers:
    registry = Registry(client=MlflowClient(tracking_uri), artifact_root=tmp_path / "artifacts", cache_dir=tmp_path / cache)
    return Handlers(registry, ComparisonSettings(n_resamples=500), tmp_path / "bundle", ServiceMetrics())


def test_a_candidate_whose_evidence_is_gone_is_a_row_with_its_reason_and_the_others_are_evaluated(
        mlflow_server: str, tmp_path: Path) -> None:
    """Before: one unreadable candidate raised out of the meeting and no bundle was written for anyone."""
    (tmp_path / "artifacts").mkdir()
    experiment = f"/tests/meeting_{uuid.uuid4().hex[:8]}_evaluation"
    baseline, cand_a, cand_b = generate(tmp_path / "artifacts", experiment=experiment, n_queries=200, n_requests=2000, seed=5)
    pairing = _handlers(mlflow_server, tmp_path, "cache-pairing")
    for run in (baseline, cand_a, cand_b):
        pairing.register_run(run_created_event(run))
    client = MlflowClient(mlflow_server)
    [(gone, _)] = pairing.registry.search({"candidate_id": cand_b.candidate_id, "role": "candidate"},
                                          pairing.registry.experiment_ids(), max_results=1)
    repo = get_artifact_repository(client.get_run(gone).info.artifact_uri, tracking_uri=mlflow_server)
    repo.delete_artifacts(PROVENANCE_PATH)  # the candidate's registered evidence is no longer in MLflow

    meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", requested_by="r",
                               candidates=[cand_a.candidate_id, cand_b.candidate_id])
    out = _handlers(mlflow_server, tmp_path, "cache-meeting").meeting_requested(meeting_requested_event(meeting))

    events = [(o.topic, decode(o.topic, o.value)) for o in out]
    [emitted] = [e.data for t, e in events if t == "bundles.emitted"]
    assert emitted.candidates[cand_b.candidate_id] == "fail" and emitted.overall_gate_status == "fail"
    assert cand_a.candidate_id in emitted.candidates
    decision = json.loads((Path(emitted.location) / "decision_metrics.json").read_text())
    [evaluated] = decision["candidates"]
    assert evaluated["candidate_id"] == cand_a.candidate_id and evaluated["ab"]["metrics"]["ndcg@10"]["ci95"]
    assert evaluated["gate_status"]["baseline_run"] == evaluated["baseline_run"] is not None
    [row] = decision["unknown_candidates"]
    assert row["candidate_id"] == cand_b.candidate_id and row["reason"].startswith("evidence_unavailable: ")
    assert "provenance.json" in row["reason"]
    summary = (Path(emitted.location) / "ab_test_summary.md").read_text()
    assert f"| {cand_b.candidate_id} |" in summary and "not evaluated: evidence_unavailable" in summary
    alerts = [e.data for t, e in events if t == "alerts" and e.data.kind == "candidate_not_evaluated"]
    assert [(a.candidate_id, a.run_id) for a in alerts] == [(cand_b.candidate_id, gone)]


def test_a_refused_bundle_upload_dead_letters_the_meeting_with_the_reason_and_is_not_retried(
        running_service: Any, refusing_gateway: RefusingGateway) -> None:
    """Before: every MLflow error was 'retry later', so a 403 kept the meeting retrying for ever, partitions paused."""
    svc = running_service(mlflow_tracking_uri=refusing_gateway.url)
    meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", candidates=["nobody"], requested_by="r")
    send(svc.settings, "meetings.requested", [meeting_message(meeting)])

    seen = svc.wait_for(lambda s: any(t == "deadletter" for t, _ in s), timeout=240)
    [record] = [e.data for t, e in seen if t == "deadletter"]
    assert record.error_type == "RegistryError" and record.source_topic == svc.settings.topic("meetings.requested")
    assert f"MLflow refused to log the bundle of meeting {meeting.meeting_id}" in record.error and "403" in record.error
    time.sleep(5)  # the service's backoff would have retried the meeting at 0.5, 1 and 2 s
    assert len(refusing_gateway.refused) == 1, refusing_gateway.refused
    assert not [t for t, _ in seen if t == "bundles.emitted"]

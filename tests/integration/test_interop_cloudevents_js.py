"""The official CloudEvents JavaScript SDK (`cloudevents` on npm) and runnotary read each other's Kafka messages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runnotary.contract import TOPICS, RunCreated, decode, encode, kafka_headers, schema_id

from tests.unit.test_contract_cloudevents import produced_events

SDK = "cloudevents@10.0.0"
HOW_CI_INSTALLS = f"npm not found: install Node.js 20+ (CI: actions/setup-node); the test runs `npm install {SDK}` in a temporary folder"

# Reads JSON lines {mode, ...}: "parse" runs Kafka.toEvent on a message, "binary"/"structured" builds one.
SCRIPT = r"""
const { CloudEvent, Kafka } = require("cloudevents");
for (const line of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
  const job = JSON.parse(line);
  try {
    if (job.mode === "parse") {
      const e = Kafka.toEvent({ headers: job.headers, key: job.key, value: job.value, body: job.value });
      console.log(JSON.stringify({ ok: true, id: e.id, type: e.type, dataschema: e.dataschema, time: e.time, data: e.data }));
    } else {
      const event = new CloudEvent({ ...job.attributes, data: job.data });
      const m = job.mode === "binary" ? Kafka.binary(event) : Kafka.structured(event);
      const value = typeof m.value === "string" ? m.value : JSON.stringify(m.value);
      console.log(JSON.stringify({ ok: true, id: event.id, headers: m.headers, value }));
    }
  } catch (err) { console.log(JSON.stringify({ ok: false, error: String((err && err.message) || err) })); }
}
"""


@pytest.fixture(scope="module")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail(HOW_CI_INSTALLS)
    folder = tmp_path_factory.mktemp("cloudevents-js")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", SDK], cwd=folder, check=True,
                   capture_output=True, timeout=600)
    (folder / "sdk.js").write_text(SCRIPT)
    return folder


def _run(folder: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run(["node", "sdk.js"], cwd=folder, input="\n".join(json.dumps(j) for j in jobs),
                            capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_js_sdk_parses_every_message_the_service_produces(js_sdk: Path, run_event: dict[str, Any]) -> None:
    events = produced_events(run_event)
    jobs = [{"mode": "parse", "headers": {k: v.decode() for k, v in kafka_headers(e)}, "key": "k", "value": encode(e).decode()}
            for _, e in events]
    # Without the binding's content-type, the SDK finds no CloudEvent: the header is what makes it work.
    jobs.append({**jobs[0], "headers": {}})
    *parsed, bare = _run(js_sdk, jobs)
    for (topic, event), result in zip(events, parsed):
        assert result["ok"], (topic, result)
        assert (result["id"], result["type"], result["dataschema"]) == (event.id, TOPICS[topic].event_type, schema_id(topic))
        assert result["data"] == event.data.model_dump(mode="json", by_alias=True)
    assert bare == {"ok": False, "error": "No CloudEvent detected"}


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_js_sdk_built_message_decodes(js_sdk: Path, run_event: dict[str, Any], mode: str) -> None:
    attributes = {"type": TOPICS["runs.created"].event_type, "source": "/training/js-job", "subject": "cand-unit",
                  "datacontenttype": "application/json", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    [built] = _run(js_sdk, [{"mode": mode, "attributes": attributes, "data": run_event}])
    assert built["ok"], built
    headers = [(k, str(v).encode()) for k, v in built["headers"].items()]
    event = decode("runs.created", built["value"].encode(), headers)
    assert event.id == built["id"] and event.data == RunCreated.model_validate(run_event)
    assert event.extensions["traceparent"] == attributes["traceparent"]

"""Latency logs of load-testing tools (k6 NDJSON, vegeta CSV, hey CSV, JMeter JTL) are read per request and
converted to ms; the p95 is numpy's inverted-CDF quantile of the same requests whatever the format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runnotary.registry import ArtifactError, spec_for
from runnotary.registry.loadlogs import detect
from runnotary.registry.recompute import read_latency_log, recompute

LATENCIES_MS = np.random.default_rng(5).lognormal(3.0, 0.4, size=2000).round(3)


def _k6(values: np.ndarray) -> str:
    lines = [json.dumps({"type": "Metric", "data": {"name": "http_req_duration", "type": "trend"},
                         "metric": "http_req_duration"})]
    for i, v in enumerate(values):
        lines.append(json.dumps({"type": "Point", "metric": "http_reqs", "data": {"time": "2026-12-05T10:00:00Z", "value": 1}}))
        lines.append(json.dumps({"metric": "http_req_duration", "type": "Point",
                                 "data": {"time": "2026-12-05T10:00:00Z", "value": float(v), "tags": {"status": "200"}}}))
    return "\n".join(lines) + "\n"


def _vegeta(values: np.ndarray) -> str:
    return "".join(f"{1733392800000000000 + i * 1000},200,{int(round(v * 1e6))},0,512,\"\",,attack,{i},GET,http://x/,\n"
                   for i, v in enumerate(values))


def _hey(values: np.ndarray) -> str:
    return "response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset\n" + "".join(
        f"{v / 1000:.6f},0.0001,0.0000,0.0000,0.0100,0.0001,200,{i * 0.01:.4f}\n" for i, v in enumerate(values))


def _jmeter(values: np.ndarray) -> str:
    return "timeStamp,elapsed,label,responseCode,responseMessage,threadName,success,bytes,Latency\n" + "".join(
        f"{1733392800000 + i},{int(round(v))},\"GET /search, page 1\",200,OK,tg 1-1,true,512,{int(v)}\n"
        for i, v in enumerate(values))


@pytest.mark.parametrize(
    ("form", "writer", "expected"),
    [
        ("k6", _k6, LATENCIES_MS),
        ("vegeta", _vegeta, np.round(LATENCIES_MS * 1e6) / 1e6),
        ("hey", _hey, np.round(LATENCIES_MS / 1000, 6) * 1000),
        ("jmeter", _jmeter, np.round(LATENCIES_MS)),
    ],
)
def test_each_load_tool_log_gives_its_requests_in_ms(tmp_path: Path, form: str, writer, expected: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{form}.log"
    path.write_text(writer(LATENCIES_MS))
    assert detect(path.read_text()) == form
    values = read_latency_log(path)
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    p95 = recompute(spec_for("latency_p95_ms"), path)
    assert p95 == np.quantile(expected, 0.95, method="inverted_cdf")


def test_runnotarys_own_format_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "latency.log"
    path.write_text("".join(f"2026-12-05T10:00:00Z r{i} {v}\n" for i, v in enumerate(LATENCIES_MS)))
    assert detect(path.read_text()) == "runnotary"
    np.testing.assert_array_equal(read_latency_log(path), LATENCIES_MS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"metric": "http_req_duration", "type": "Point", "data": {"value": "fast"}}\n', r"k6 http_req_duration point"),
        ('{"type": "Metric", "metric": "http_reqs"}\n', r"no request"),
        ("response-time,status-code\nabc,200\n", r"latency 'abc' is not a number"),
        ("timeStamp,elapsed,label\n1,-5,x\n", r"negative"),
    ],
)
def test_bad_load_logs_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.log"
    path.write_text(text)
    with pytest.raises(ArtifactError, match=message):
        read_latency_log(path)

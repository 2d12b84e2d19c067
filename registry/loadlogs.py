"""Request latencies from load-testing tools' per-request logs, in milliseconds.

A ``latency_log`` artifact may be, recognised from its content:

- runnotary's own ``<timestamp> <request_id> <latency_ms>`` lines;
- k6 ``--out json=`` NDJSON: the ``Point`` records of ``http_req_duration`` (``data.value``, ms);
- vegeta ``encode --to csv``: no header, latency (ns) in the third column;
- hey ``-o csv``: header ``response-time,...``, ``response-time`` in seconds;
- JMeter JTL CSV: header ``timeStamp,elapsed,...``, ``elapsed`` in ms.

locust's ``--csv`` files and wrk hold summaries only, not one line per request; they cannot give a
quantile with a confidence interval and are not accepted.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Literal

import numpy as np

from runnotary.registry.errors import ArtifactError

__all__ = ["LoadLogFormat", "detect", "latencies_ms"]

LoadLogFormat = Literal["runnotary", "k6", "vegeta", "hey", "jmeter"]
_VEGETA = re.compile(r"^\d{10,},\d{3},\d+,")


def detect(text: str) -> LoadLogFormat:
    """The format of a latency log, from its first non-blank line."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("{"):
        return "k6"
    if first.startswith("response-time,"):
        return "hey"
    if first.startswith("timeStamp,") and "elapsed" in first.split(","):
        return "jmeter"
    if _VEGETA.match(first):
        return "vegeta"
    return "runnotary"


def latencies_ms(text: str, name: str) -> tuple[LoadLogFormat, np.ndarray]:
    """The request latencies of a load-tool log in ms (``runnotary``'s own format is left to the caller)."""
    form = detect(text)
    if form == "k6":
        values = _k6(text, name)
    elif form == "vegeta":
        values = _column(text, name, None, 2, "vegeta CSV (latency in ns, column 3)") / 1e6
    elif form == "hey":
        values = _column(text, name, "response-time", None, "hey CSV") * 1000.0
    elif form == "jmeter":
        values = _column(text, name, "elapsed", None, "JMeter JTL CSV")
    else:
        raise ValueError("runnotary's own latency log is read by registry.recompute")
    if values.size == 0 or not np.all(np.isfinite(values)) or (values < 0).any():
        raise ArtifactError(f"{name}: {form} log holds no request, or a latency that is negative, NaN or inf")
    return form, values


def _k6(text: str, name: str) -> np.ndarray:
    values: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if '"http_req_duration"' not in line or '"Point"' not in line:
            continue
        try:
            record = json.loads(line)
            if record.get("type") == "Point" and record.get("metric") == "http_req_duration":
                value = record["data"]["value"]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError("not a number")
                values.append(float(value))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"{name}:{number}: not a k6 http_req_duration point ({exc.__class__.__name__})") from exc
    return np.asarray(values, dtype=np.float64)


def _column(text: str, name: str, header: str | None, index: int | None, what: str) -> np.ndarray:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        if header is not None:
            columns = next(reader)
            index = columns.index(header)
        assert index is not None
        cells = [row[index] for row in reader if row]
    except (csv.Error, IndexError, ValueError, StopIteration) as exc:
        raise ArtifactError(f"{name}: not a {what}: {exc.__class__.__name__}") from exc
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        bad = next(c for c in cells if not _is_number(c))
        raise ArtifactError(f"{name}: {what}: latency {bad[:40]!r} is not a number") from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True

"""What ``verify-bundle`` finds: the report, the cited files fetched again, and one recomputation checked.

Every cited file is downloaded again from its run (``runs:/<run_id>/evidence/<file>``) and re-hashed
once; every recomputed value is compared leaf by leaf with the bundle's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runnotary.bundles import recipes
from runnotary.contract import safe_relative_path
from runnotary.digests import sha256_file
from runnotary.errors import RunnotaryError, redact
from runnotary.registry.records import PROVENANCE_PATH

__all__ = ["Finding", "Report", "Sources", "diff", "label", "recompute", "statistic"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_REL_TOL = 1e-12  # the same code on the same bytes: anything beyond float noise is a change


@dataclass(frozen=True)
class Finding:
    """One item that does not reproduce."""

    item: str
    file: str | None
    expected: Any
    found: Any

    def __str__(self) -> str:
        where = f" [{self.file}]" if self.file else ""
        return f"{self.item}{where}: bundle says {self.expected!r}, recomputed {self.found!r}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    numbers: int = 0
    statistics: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


class Sources:
    """Cited files downloaded once from MLflow, each checked against the sha256 the bundle cites."""

    def __init__(self, client: Any, workdir: Path, report: Report) -> None:
        self.client = client
        self.workdir = workdir
        self.report = report
        self._local: dict[tuple[str, str], Path | str] = {}
        self._checked: set[tuple[str, str, str]] = set()
        self._provenance: dict[str, dict[str, Any] | str] = {}

    def get(self, cite: dict[str, Any], item: str) -> Path | None:
        run_id, file, sha = str(cite.get("run_id")), str(cite.get("file")), str(cite.get("sha256"))
        label = f"runs:/{run_id}/evidence/{file}"
        key = (run_id, file)
        if key not in self._local:
            self._local[key] = self._download(run_id, file)
        local = self._local[key]
        if isinstance(local, str):
            self._finding(item, label, "a file in MLflow", local, (run_id, file, "missing"))
            return None
        if (run_id, file, sha) not in self._checked:
            self._checked.add((run_id, file, sha))
            self.report.files += 1
            digest = sha256_file(local)[0]
            if digest != sha:
                self.report.findings.append(Finding(f"{item}.sha256", label, sha, digest))
        return local

    def provenance(self, run_id: str) -> dict[str, Any] | str:
        """The registration runnotary recorded on ``run_id`` (its ``runnotary/provenance.json``), or why not."""
        if run_id not in self._provenance:
            self._provenance[run_id] = self._read_provenance(run_id)
        return self._provenance[run_id]

    def _read_provenance(self, run_id: str) -> dict[str, Any] | str:
        if not _RUN_ID.match(run_id):
            return f"not a run id: {run_id!r}"
        target = self.workdir / run_id / "__provenance"
        target.mkdir(parents=True, exist_ok=True)
        try:
            path = self.client.download_artifacts(run_id, PROVENANCE_PATH, str(target))
            data = json.loads(Path(path).read_text())
        except Exception as exc:  # any refusal from the store is reported against this run
            return redact(f"cannot read {PROVENANCE_PATH}: {type(exc).__name__}: {exc}")[:300]
        return data if isinstance(data, dict) else f"{PROVENANCE_PATH} is not an object"

    def _finding(self, item: str, label: str, expected: Any, found: Any, key: tuple[str, str, str]) -> None:
        if key not in self._checked:
            self._checked.add(key)
            self.report.findings.append(Finding(item, label, expected, found))

    def _download(self, run_id: str, file: str) -> Path | str:
        if not _RUN_ID.match(run_id):
            return f"not a run id: {run_id!r}"
        try:
            file = safe_relative_path(file)  # paths in a bundle are as untrusted as paths in events
        except ValueError as exc:
            return str(exc)
        target = self.workdir / run_id / file.replace("/", "__")
        target.mkdir(parents=True, exist_ok=True)
        try:
            return Path(self.client.download_artifacts(run_id, f"evidence/{file}", str(target)))
        except Exception as exc:  # any refusal from the store is reported against this file
            return redact(f"cannot download: {type(exc).__name__}: {exc}")[:300]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=1e-15) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def diff(item: str, recorded: Any, recomputed: Any, file: str | None, report: Report) -> None:
    """Every leaf of ``recomputed`` must equal the bundle's (keys the bundle lacks are findings too)."""
    if isinstance(recomputed, dict):
        if not isinstance(recorded, dict):
            report.findings.append(Finding(item, file, recorded, "an object"))
            return
        for key, value in recomputed.items():
            diff(f"{item}.{key}", recorded.get(key, "<absent>"), value, file, report)
    elif isinstance(recomputed, (list, tuple)):
        if not isinstance(recorded, list) or len(recorded) != len(recomputed):
            report.findings.append(Finding(item, file, recorded, list(recomputed)))
            return
        for i, (a, b) in enumerate(zip(recorded, recomputed)):
            diff(f"{item}[{i}]", a, b, file, report)
    elif not _same(recorded, recomputed):
        report.findings.append(Finding(item, file, recorded, recomputed))


def label(*cites: dict[str, Any]) -> str:
    return ", ".join(f"runs:/{c.get('run_id')}/evidence/{c.get('file')}" for c in cites)


def statistic(report: Report, item: str, file: str, recorded: Any, compute: Callable[[], Any]) -> None:
    """Recompute one statistic; a refusal (bad recorded parameter) is a finding, not a crash."""
    report.statistics += 1
    try:
        value = compute()
    except (RunnotaryError, ValueError, TypeError, KeyError) as exc:
        report.findings.append(Finding(item, file, recorded, f"cannot recompute: {type(exc).__name__}: {exc}"))
        return
    diff(item, recorded, value, file, report)




def recompute(kind: str, entry: Mapping[str, Any], inputs: tuple[np.ndarray, ...], item: str, where: str,
              report: Report) -> None:
    """Recompute every statistic of ``kind`` in :data:`bundles.recipes.STATISTICS` over ``inputs``, each with
    the parameters read back from ``entry``, against the record ``entry`` holds under its name."""
    for name, stat in recipes.STATISTICS[kind].items():
        statistic(report, f"{item}.{name}", where, entry.get(name),
                  lambda stat=stat: stat.compute(*inputs, **stat.recorded(entry)))  # type: ignore[misc]

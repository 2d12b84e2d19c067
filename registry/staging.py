"""Staging: a registration's local work, before MLflow is touched.

Each artifact an event cites is copied once into a staging folder and the copy hashed; every claimed
metric is recomputed from that copy, so the bytes hashed are the bytes recomputed (and later
uploaded). What cannot be copied or recomputed becomes an alert on the run, not a refusal.
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnotary.contract import Alert, RunCreated
from runnotary.errors import redact
from runnotary.registry.artifacts import MAX_ARTIFACT_BYTES, ArtifactRecord, copy_hashed, viewer_for
from runnotary.registry.catalog import MetricSpec, Recipe, UnknownMetric, normalize
from runnotary.registry.errors import ArtifactError
from runnotary.registry.evidence_cache import ParsedCache, frozen, judged, recipe_values
from runnotary.registry.hygiene import DEFAULT_HYGIENE, HygieneSettings, check_run
from runnotary.registry.recompute import MAX_PARSE_BYTES, parse_artifact, recompute_from
from runnotary.registry.records import EVIDENCE_DIR, MetricRecord, Staged

__all__ = ["Staging"]


@dataclass
class Staging:
    """Stages events' artifacts from ``artifact_root`` into ``cache_dir/staging/<uuid>/``.

    ``max_artifact_bytes`` bounds a file it copies, ``max_parse_bytes`` a file it parses; what it
    parses goes into ``parsed`` (the evidence cache's), for the comparisons that read it again.
    """

    artifact_root: Path
    cache_dir: Path
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES
    max_parse_bytes: int = MAX_PARSE_BYTES
    hygiene: HygieneSettings = DEFAULT_HYGIENE
    parsed: ParsedCache = field(default_factory=ParsedCache)
    _swept: bool = field(default=False, init=False, repr=False)

    def stage(self, event: RunCreated) -> Staged:
        """Copy, hash and recompute ``event``'s evidence into a fresh folder (the caller removes it)."""
        if not self._swept:
            self._sweep()
        folder = self.cache_dir / "staging" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        try:
            artifacts, alerts = self._copy_artifacts(event, folder)
            metrics, metric_alerts = self._recompute_metrics(event, artifacts, folder)
            alerts += metric_alerts + check_run(event, None, settings=self.hygiene)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return Staged(folder, tuple(artifacts), tuple(metrics), tuple(alerts))

    def _sweep(self) -> None:
        """Remove staging folders a killed process left behind (older than an hour: not in use)."""
        self._swept = True
        cutoff = time.time() - 3600
        try:
            leftovers = [p for p in (self.cache_dir / "staging").iterdir() if p.stat().st_mtime < cutoff]
        except OSError:
            return
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)

    def _copy_artifacts(self, event: RunCreated, folder: Path) -> tuple[list[ArtifactRecord], list[Alert]]:
        records: list[ArtifactRecord] = []
        alerts: list[Alert] = []
        for ref in event.artifacts:
            try:
                digest, size = copy_hashed(self.artifact_root, ref.path, folder / EVIDENCE_DIR / ref.path,
                                           self.max_artifact_bytes)
            except ArtifactError as exc:
                severity = "critical" if exc.reason == "unsafe_artifact_path" else "warning"
                alerts.append(_alert(exc.reason, severity, event, redact(str(exc)), path=ref.path))
                continue
            if ref.sha256 is not None and ref.sha256 != digest:
                alerts.append(_alert(
                    "artifact_hash_mismatch", "critical", event,
                    f"{ref.path}: claimed sha256 {ref.sha256[:12]}… but the file hashes to {digest[:12]}…",
                    path=ref.path, claimed=ref.sha256, actual=digest,
                ))
            records.append(ArtifactRecord("", ref.kind, ref.path, digest, size, viewer_for(ref.path), ref.sha256))
        return records, alerts

    def _recompute_metrics(
        self, event: RunCreated, artifacts: list[ArtifactRecord], folder: Path
    ) -> tuple[list[MetricRecord], list[Alert]]:
        by_path = {a.path: a for a in artifacts}
        records: list[MetricRecord] = []
        alerts: list[Alert] = []
        for claim in event.metrics:
            try:
                spec, claimed = normalize(claim.name, claim.value, claim.unit)
            except UnknownMetric as exc:
                alerts.append(_alert("unknown_metric", "warning", event, str(exc), metric=claim.name))
                continue
            qrels = event.qrels_for(claim)
            record, code = self._recompute_one(spec, claim.uuid.hex, claimed, claim.source, by_path.get(claim.source), folder,
                                               by_path.get(qrels) if qrels is not None else None)
            if record.status != "verified":
                severity = "critical" if record.status == "mismatch" else "warning"
                alerts.append(_alert(f"metric_{record.status}", severity, event, record.reason or "", metric=spec.name,
                                     reason=code, path=claim.source))
            records.append(record)
        return records, alerts

    def _recompute_one(
        self, spec: MetricSpec, uuid_hex: str, claimed: float, path: str, source: ArtifactRecord | None, folder: Path,
        qrels: ArtifactRecord | None = None,
    ) -> tuple[MetricRecord, str | None]:
        recipe = spec.recipe_for(source.kind) if source is not None else None
        parameters = _recipe_record(recipe, qrels)

        def invalid(reason: str, code: str) -> tuple[MetricRecord, str]:
            return MetricRecord(uuid_hex, spec.name, spec.unit, claimed, None, "invalid", path, None, redact(reason),
                                parameters), code

        if source is None:
            return invalid(f"{spec.name}: its source {path!r} was not hashed (missing or unreadable)", "missing_artifact")
        if recipe is None:
            kinds = " or ".join(repr(k) for k in spec.kinds)
            return invalid(f"{spec.name} is recomputed from a {kinds} artifact, not {source.kind!r}", "wrong_artifact_kind")
        if recipe.extractor == "ranking" and qrels is None:
            return invalid(f"{spec.name}: the qrels of {path!r} were not hashed (missing or unreadable)", "missing_artifact")
        local = folder / EVIDENCE_DIR / path
        try:
            if recipe.extractor == "ranking":
                assert qrels is not None
                pair = judged(self.parsed, source, qrels, lambda p: folder / EVIDENCE_DIR / p, self.max_parse_bytes)
                value = recipe_values(pair, recipe).mean
            else:
                parsed = self.parsed.get_or_parse(
                    _parse_kind(recipe), source.sha256, lambda: frozen(parse_artifact(recipe, local, self.max_parse_bytes))
                )
                value = recompute_from(recipe, parsed, Path(path).name)
        except ArtifactError as exc:
            code = "artifact_too_large" if exc.reason == "artifact_too_large" else "artifact_invalid"
            return invalid(f"{spec.name}: {exc}", code)
        except Exception as exc:  # noqa: BLE001 - untrusted file contents: no parser failure may sink the event
            return invalid(f"{spec.name}: {path} could not be parsed ({exc.__class__.__name__})", "artifact_invalid")
        if not math.isfinite(value):
            return invalid(f"{spec.name}: {path} gives a non-finite value", "artifact_invalid")
        if abs(value - claimed) > spec.tolerance * max(1.0, abs(value)):
            reason = f"{spec.name}: claimed {claimed:.6g} but {path} gives {value:.6g}"
            return MetricRecord(uuid_hex, spec.name, spec.unit, claimed, value, "mismatch", path, source.sha256, reason,
                                parameters), None
        return MetricRecord(uuid_hex, spec.name, spec.unit, claimed, value, "verified", path, source.sha256, None,
                            parameters), None


def _alert(kind: str, severity: str, event: RunCreated, message: str, **details: object) -> Alert:
    """An alert on the run being registered; its run id is filled in once the run exists."""
    return Alert(kind=kind, severity=severity, run_id=None, candidate_id=event.candidate_id,  # type: ignore[arg-type]
                 message=message, details=details)


def _recipe_record(recipe: Recipe | None, qrels: ArtifactRecord | None) -> dict[str, Any] | None:
    if recipe is None:
        return None
    out = recipe.parameters()
    if recipe.extractor == "ranking" and qrels is not None:
        out.update({"qrels": qrels.path, "qrels_sha256": qrels.sha256})
    return out


def _parse_kind(spec: MetricSpec | Recipe) -> str:
    return {"column_mean": "per_query", "log_quantile": "latency_log", "classification": "predictions"}.get(
        spec.extractor, "json")

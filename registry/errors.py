"""Exceptions of runnotary; the root lives here because every package that raises one imports registry."""

from __future__ import annotations

__all__ = [
    "RunnotaryError",
    "RegistryError",
    "ArtifactError",
    "UnsafeArtifactPath",
    "TrackingUnavailable",
]


class RunnotaryError(Exception):
    """Root of every error runnotary raises on purpose."""


class RegistryError(RunnotaryError):
    """A run cannot be registered as described (bad provenance, unknown run, ...)."""


class ArtifactError(RegistryError):
    """An artifact is missing, unreadable or not what its claim says."""


class UnsafeArtifactPath(ArtifactError):
    """An artifact path points outside the artifact root (``..``, absolute, symlink escape)."""


class TrackingUnavailable(RunnotaryError):
    """The MLflow tracking store does not answer; the event should be retried, not dead-lettered."""

"""Exceptions of the registry (the root, ``RunnotaryError``, lives in ``runnotary.errors``)."""

from __future__ import annotations

from runnotary.errors import RunnotaryError

__all__ = [
    "RegistryError",
    "ArtifactError",
    "UnsafeArtifactPath",
    "ArtifactMissing",
    "ArtifactUnreadable",
    "ArtifactTooLarge",
    "TrackingUnavailable",
]


class RegistryError(RunnotaryError):
    """A run cannot be registered as described (bad provenance, unknown run, ...)."""


class ArtifactError(RegistryError):
    """An artifact is missing, unreadable or not what its claim says.

    ``reason`` is the alert kind a registration raises for it on the run.
    """

    reason = "artifact_unreadable"


class UnsafeArtifactPath(ArtifactError):
    """An artifact path points outside the artifact root (``..``, absolute, symlink escape)."""

    reason = "unsafe_artifact_path"


class ArtifactMissing(ArtifactError):
    """No file under the artifact root at the cited path."""

    reason = "missing_artifact"


class ArtifactUnreadable(ArtifactError):
    """The path exists but is not a readable regular file (directory, FIFO, permissions, symlink loop)."""

    reason = "artifact_unreadable"


class ArtifactTooLarge(ArtifactError):
    """The file is larger than the registry copies (``max_artifact_bytes``) or parses (``max_parse_bytes``)."""

    reason = "artifact_too_large"


class TrackingUnavailable(RunnotaryError):
    """The MLflow tracking store does not answer; the event should be retried, not dead-lettered."""

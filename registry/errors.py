"""Exceptions of the registry (the root, ``RunnotaryError``, lives in ``runnotary.errors``)."""

from __future__ import annotations

import re

from runnotary.errors import RunnotaryError

__all__ = [
    "redact",
    "RunnotaryError",
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


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_SECRET_FIELD = re.compile(
    r"(?P<name>(?:password|passwd|secret|token|api[_-]?key|authorization|sasl\.password)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:Bearer|Basic)\s+)?[^\s\"',;&]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with credentials removed: URL userinfo, and values of password/token-like fields.

    Applied to every error text that leaves the process (logs, dead-letter records, alerts).
    """
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_FIELD.sub(r"\g<name>***", text)

"""Errors of the training-job client."""

from __future__ import annotations

from runnotary.errors import RunnotaryError

__all__ = ["ClientError", "InvalidMeeting", "InvalidRun", "ProvenanceError", "UnsafeDatasetPath", "SpoolError"]


class ClientError(RunnotaryError):
    """Root of what the client raises on purpose."""


class InvalidRun(ClientError):
    """The run described does not satisfy the event contract; the message names the field."""


class InvalidMeeting(ClientError):
    """The meeting request does not satisfy the meetings.requested contract; the message names the field."""


class ProvenanceError(ClientError):
    """A piece of provenance cannot be determined (no git repository, unreadable data set, ...)."""


class UnsafeDatasetPath(ProvenanceError):
    """A data set holds a symbolic link, or something that is neither a file nor a directory."""


class SpoolError(ClientError):
    """The spool directory cannot be written or holds a record that cannot be read."""

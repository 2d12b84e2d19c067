"""Errors of the event contract."""

from __future__ import annotations

from runnotary.errors import RunnotaryError

__all__ = ["InvalidEvent"]


class InvalidEvent(RunnotaryError):
    """A message that cannot be decoded or validated; it goes to the dead-letter topic."""

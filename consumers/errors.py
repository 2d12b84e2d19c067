"""Errors of the service shell."""

from __future__ import annotations

from runnotary.errors import RunnotaryError

__all__ = ["DeliveryFailed", "BrokerError"]


class DeliveryFailed(RunnotaryError):
    """The broker did not acknowledge a publish; the input offset must not be committed."""


class BrokerError(RunnotaryError):
    """The embedded broker could not be started."""

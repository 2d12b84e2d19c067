"""Exceptions raised by :mod:`stats`.

``stats`` imports nothing from the rest of runnotary, so its root exception is
local; the service may register it under the project's root exception.
Statistical trouble that is part of the answer (zero variance, degenerate
intervals) is never raised: it comes back in a result's ``reason`` field.
"""

from __future__ import annotations

__all__ = ["InvalidInputError", "StatsError"]


class StatsError(Exception):
    """Root of every exception raised by :mod:`stats`."""


class InvalidInputError(StatsError, ValueError):
    """Input that no statistic can be computed from (NaN, length mismatch, ...).

    A :class:`ValueError`, so callers that catch ``ValueError`` keep working.
    The message names the offending argument and the problem.
    """

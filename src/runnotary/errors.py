"""The root of every error runnotary raises on purpose; each subpackage keeps its leaves in its own ``errors.py``.

It lives at the top so that no package imports another only to get it: the light client, the
service shell and the bundles all derive from it without importing ``runnotary.registry``.
"""

from __future__ import annotations

__all__ = ["RunnotaryError"]


class RunnotaryError(Exception):
    """Root of every error runnotary raises on purpose.

    What the service does with one follows from it: an input refused with a ``RunnotaryError`` (it
    does not decode, validate or satisfy the contract, or a handler refuses it for a documented
    reason) is dead-lettered; any other exception is a bug or an outage and its message is kept.
    """

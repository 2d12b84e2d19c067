"""The root of every error runnotary raises on purpose (each subpackage keeps its leaves in its own
``errors.py``), and ``redact``, which every error text passes before it leaves the process.

It lives at the top so that no package imports another only to get it: the light client, the
service shell and the bundles all derive from it without importing ``runnotary.registry``.
"""

from __future__ import annotations

import re

__all__ = ["RunnotaryError", "redact"]


class RunnotaryError(Exception):
    """Root of every error runnotary raises on purpose.

    What the service does with one follows from it: an input refused with a ``RunnotaryError`` (it
    does not decode, validate or satisfy the contract, or a handler refuses it for a documented
    reason) is dead-lettered; any other exception is a bug or an outage and its message is kept.
    """


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

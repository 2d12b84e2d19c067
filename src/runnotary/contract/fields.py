"""The field types the payloads share, and their frozen base model.

The patterns here are the wire's: every string that later lands in an MLflow search filter, a
directory name or a timestamp is refused at the edge, before anything uses it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from runnotary.digests import SHA256_PATTERN

__all__ = ["Frozen", "Identifier", "Name", "RFC3339", "SAFE_NAME", "SafeName", "Sha256", "rfc3339"]

Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN, to_lower=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=250, strip_whitespace=True)]
#: Values that end up inside MLflow search filters: no quotes, no spaces.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
#: Names that become a directory or file name (meeting ids -> bundle/<meeting_id>/): no ':' either.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME)]
#: RFC 3339 date-time (section 5.6): a 'T' between date and time and a mandatory offset.
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"


def rfc3339(value: object, what: str) -> object:
    """Pass an aware datetime or an RFC 3339 string through; refuse anything else (numbers, naive or
    space-separated times), naming ``what``."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str) and re.match(RFC3339, value):
        return value
    raise ValueError(f"{what} {value!r} is not an RFC 3339 timestamp with a time zone offset, e.g. 2026-11-26T14:45:00Z")


class Frozen(BaseModel):
    """A payload model: immutable, and an unknown field is an error that names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

"""The base of the frozen result records: JSON-ready ``to_dict``, and the words they share.

Every record has :meth:`Record.to_dict`, which returns JSON-ready plain Python
types (``float``, ``int``, ``str``, ``bool``, ``None``, lists of those) for
Kafka events and evidence bundles. No field is ever NaN: a quantity that is
undefined for the data is ``None`` and ``reason`` says why.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np

Alternative = Literal["two-sided", "less", "greater"]
Estimand = Literal["E1", "E2", "E3"]


def unserialised() -> Any:
    """A field for an array-valued diagnostic (a resample distribution): None unless asked for, left out
    of ``repr``, equality and :meth:`Record.to_dict`."""
    return dataclasses.field(default=None, repr=False, compare=False, metadata={"serialised": False})


def _plain(value: Any) -> Any:
    """Convert numpy scalars and tuples to JSON-ready Python values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):  # pragma: no cover - guarded by construction
            raise ValueError("result field is not finite")
        return number
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_plain(v) for v in value]
    raise TypeError(f"unsupported result field type {type(value).__name__}")


class Record:
    """Mixin giving frozen dataclasses a JSON-ready ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready plain Python types.

        Array-valued diagnostics (the resample distribution) are omitted.
        """
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.metadata.get("serialised", True)
        }

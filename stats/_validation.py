"""Input validation at the edge of the public API.

Each ``_validate_…`` turns raw input into canonical values (contiguous
``float64`` arrays, Python ints and floats) or raises
:class:`~stats.errors.InvalidInputError` with a message that names the
argument and the problem. Code past these functions assumes clean input.
"""

from __future__ import annotations

import math
import operator
from typing import Any, get_args

import numpy as np
from numpy.typing import ArrayLike

from ._record import Alternative
from .errors import InvalidInputError

_MAX_SEED = 2**64
_MAX_N = 2**31 - 2  # indices come from 32 random bits; ranks and the sentinel n fit int32


def _validate_sample(values: ArrayLike, name: str, *, min_size: int = 2) -> np.ndarray:
    """Return ``values`` as a finite 1-d contiguous float64 array.

    Booleans and integers are accepted (per-example 0/1 metrics are common);
    complex, object, string and datetime data are not.
    """
    array = _as_numeric_array(values, name, kinds="biuf")
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if array.shape[0] < min_size:
        raise InvalidInputError(
            f"{name} has {array.shape[0]} values; at least {min_size} are required"
        )
    return _as_finite_float64(array, name, size=array.shape[0], unit="values")


def _as_numeric_array(values: ArrayLike, name: str, *, kinds: str) -> np.ndarray:
    """Return ``values`` as an array whose dtype kind is one of ``kinds`` (numpy's codes: ``"biuf"``)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} is not array-like: {exc}") from exc
    if array.dtype.kind not in kinds:
        raise InvalidInputError(f"{name} has non-numeric dtype {array.dtype}; expected real numbers")
    return array


def _as_finite_float64(array: np.ndarray, name: str, *, size: int, unit: str) -> np.ndarray:
    """Return ``array`` (1-d values or 2-d runs x items, ``size`` of them along the checked axis) as a
    contiguous float64 array, refusing a size over the kernels' limit and any NaN or inf."""
    if size > _MAX_N:
        raise InvalidInputError(f"{name} has {size} {unit}; at most {_MAX_N} are supported")
    array = np.ascontiguousarray(array, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        bad = array[~finite]
        kind = "NaN" if np.isnan(bad).any() else "inf"
        first = [int(k) for k in np.argwhere(~finite)[0]]
        where = f"index {first[0]}" if array.ndim == 1 else f"run {first[0]}, item {first[1]}"
        raise InvalidInputError(f"{name} contains {kind} ({bad.size} non-finite values, first at {where})")
    return array


def _validate_differences(candidate: ArrayLike, baseline: ArrayLike) -> np.ndarray:
    """Return candidate - baseline for paired data, validated."""
    c = _validate_sample(candidate, "candidate", min_size=1)
    b = _validate_sample(baseline, "baseline", min_size=1)
    if c.shape[0] != b.shape[0]:
        raise InvalidInputError(
            f"length mismatch: candidate has {c.shape[0]} values, baseline has {b.shape[0]}; "
            "paired data need one value per example in each arm"
        )
    if c.shape[0] < 2:
        raise InvalidInputError(f"fewer than 2 pairs ({c.shape[0]}); at least 2 are required")
    with np.errstate(over="ignore"):  # reported below as an InvalidInputError
        d = c - b
    _validate_magnitude(d, "candidate - baseline")
    return d


def _validate_magnitude(values: np.ndarray, name: str) -> None:
    """Reject values whose sums or sums of squares would overflow float64 (and turn into inf/NaN)."""
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{name} overflows float64")
    peak = float(max(values.max(), -values.min())) if values.size else 0.0
    if peak > math.sqrt(np.finfo(np.float64).max / (4.0 * values.shape[0])):
        raise InvalidInputError(f"{name} is too large in magnitude ({peak:g}) to sum squares without overflow")


def _validate_int(value: Any, name: str, *, minimum: int) -> int:
    """Return ``value`` as a Python int ``>= minimum`` (bools are rejected)."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be an integer, got bool")
    try:
        number = operator.index(value)
    except TypeError as exc:
        raise InvalidInputError(
            f"{name} must be an integer, got {type(value).__name__}"
        ) from exc
    if number < minimum:
        raise InvalidInputError(f"{name} must be >= {minimum}, got {number}")
    return number


def _validate_n_resamples(value: Any) -> int:
    """Return the number of resamples, an int >= 1."""
    return _validate_int(value, "n_resamples", minimum=1)


def _validate_random_state(value: Any) -> int:
    """Return the seed: an int in ``[0, 2**64)``, so it can be recorded and replayed.

    A ``numpy.random.Generator`` or ``None`` is rejected on purpose: its state
    cannot be written into an evidence bundle.
    """
    if value is None or isinstance(value, (np.random.Generator, np.random.RandomState)):
        raise InvalidInputError(
            "random_state must be an int >= 0 (recorded so the result can be reproduced); "
            f"got {type(value).__name__}"
        )
    seed = _validate_int(value, "random_state", minimum=0)
    if seed >= _MAX_SEED:
        raise InvalidInputError(f"random_state must be < 2**64, got {seed}")
    return seed


def _validate_open_unit(value: Any, name: str) -> float:
    """Return ``value`` as a float strictly inside (0, 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number in (0, 1), got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and 0.0 < number < 1.0):
        raise InvalidInputError(f"{name} must be in (0, 1), got {value!r}")
    return number


def _validate_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _validate_alternative(value: Any) -> Alternative:
    """Return ``value`` if it names an alternative hypothesis: ``"two-sided"``, ``"less"`` or ``"greater"``."""
    return _validate_choice(value, "alternative", get_args(Alternative))  # type: ignore[return-value]


def _validate_runs(values: ArrayLike, name: str) -> np.ndarray:
    """Return per-run, per-item scores as a finite 2-d contiguous float64 array, shape (S, n).

    Rows are seed runs, columns items; a 1-d array is one run. At least one run
    and two items are required.
    """
    array = _as_numeric_array(values, name, kinds="biuf")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidInputError(
            f"{name} must be 2-dimensional (seed runs x items), got shape {array.shape}"
        )
    if array.shape[0] < 1:
        raise InvalidInputError(f"{name} has no runs; at least 1 is required")
    if array.shape[1] < 2:
        raise InvalidInputError(f"{name} has {array.shape[1]} items; at least 2 are required")
    array = _as_finite_float64(array, name, size=array.shape[1], unit="items")
    _validate_magnitude(array.ravel(), name)
    return array


def _validate_arms(candidate: ArrayLike, baseline: ArrayLike, *, matched: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return the two arms' run matrices, checked to score the same items (and the same seeds when matched)."""
    yb = _validate_runs(candidate, "candidate")
    ya = _validate_runs(baseline, "baseline")
    if yb.shape[1] != ya.shape[1]:
        raise InvalidInputError(
            f"item count mismatch: candidate runs have {yb.shape[1]} items, baseline runs {ya.shape[1]}; "
            "every run of both arms must score the same items in the same column order"
        )
    if not isinstance(matched, (bool, np.bool_)):
        raise InvalidInputError(f"matched must be a bool, got {type(matched).__name__}")
    if matched and yb.shape[0] != ya.shape[0]:
        raise InvalidInputError(
            f"matched seeds need as many candidate runs as baseline runs, got {yb.shape[0]} and {ya.shape[0]}"
        )
    return yb, ya, bool(matched)


def _validate_real(value: Any, name: str) -> float:
    """Return ``value`` as a finite float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    return number

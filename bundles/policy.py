"""Gates as policy data: a YAML file validated by pydantic, the seed's four gates by default.

A gate passes when any of its rules passes (in order); the rule that decided is named in
the gate's entry. A rule reads one observation:

- ``metric``: the candidate's recomputed metric;
- ``delta``, ``delta_ci95_lower``, ``delta_ci95_upper``: the A/B difference against the
  baseline (per-query metrics, or the latency quantile ``latency_p95_ms``) and its CI;
- ``pvalue``, ``pvalue_holm``: the raw and Holm-adjusted permutation p-values (with seed runs:
  the crossed-design interval's p-value).

A rule on a per-query difference may name its ``estimand`` (``E1`` these runs over queries, ``E2``
the recipes on this query set over retraining, ``E3`` the recipes over retraining and queries) and
``min_seeds``, the seed runs each arm needs; a rule that cannot be read as asked fails with the
reason ``too_few_seeds``. Without an estimand a rule reads the headline: E3 when both arms have at
least 2 seed runs, else E1 (one run a side: the one-run comparison).

Rules on a difference are direction-aware: a CI rule must bound the side that matters for
the metric's direction (lower bound above a floor for higher-is-better metrics, upper bound
below a ceiling for lower-is-better ones), so a slower candidate cannot pass on its CI's
optimistic end.

File layout::

    version: 1
    gates:                       # the default for every candidate
      - name: ndcg10_ci95_lower
        rules: [{source: delta_ci95_lower, metric: "ndcg@10", op: ">", threshold: 0.0}]
    experiments:                 # overrides by experiment name (win over domains)
      /Shared/retrieval: {gates: [...], remove: [v1_v2_corr]}
    domains:                     # overrides by the run's standard ``domain`` tag
      vision: {gates: [...]}

An override's gates replace the default gate of the same name or are added after them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runnotary.registry.catalog import UnknownMetric, spec_for
from runnotary.errors import RunnotaryError

__all__ = ["DEFAULT_POLICY", "Estimand", "GatePolicy", "GateRule", "GateSpec", "Override", "PolicyError", "Source",
           "load_policy"]

Source = Literal["metric", "delta", "delta_ci95_lower", "delta_ci95_upper", "pvalue", "pvalue_holm"]
Op = Literal[">=", ">", "<", "<="]
Estimand = Literal["E1", "E2", "E3"]

COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}


class PolicyError(RunnotaryError):
    """A gate policy file that cannot be read or does not validate."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GateRule(_Model):
    """One comparison: ``<source of metric> <op> <threshold>``."""

    source: Source
    metric: str
    op: Op
    threshold: float
    estimand: Estimand | None = None
    min_seeds: int | None = Field(default=None, ge=1, le=62)

    @field_validator("metric")
    @classmethod
    def _canonical(cls, value: str) -> str:
        try:
            return spec_for(value).name
        except UnknownMetric as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _direction(self) -> GateRule:
        spec = spec_for(self.metric)
        upward = self.op in (">", ">=")
        if self.source == "delta_ci95_lower" and not (spec.higher_is_better and upward):
            raise ValueError(f"{self.metric}: a CI lower-bound rule needs a higher-is-better metric and '>' or '>='")
        if self.source == "delta_ci95_upper" and (spec.higher_is_better or upward):
            raise ValueError(f"{self.metric}: a CI upper-bound rule needs a lower-is-better metric and '<' or '<='")
        if self.source in ("pvalue", "pvalue_holm") and upward:
            raise ValueError(f"a p-value rule must read '<' or '<=' (got {self.op!r})")
        if (self.estimand is not None or self.min_seeds is not None) and (
                self.source == "metric" or spec.extractor == "log_quantile"):
            raise ValueError(f"{self.metric}: estimand and min_seeds apply to rules on a per-query difference")
        return self

    @property
    def label(self) -> str:
        """How the gate entry names the rule, e.g. ``delta_ci95_upper(latency_p95_ms) <= 5``."""
        label = f"{self.source}({self.metric}) {self.op} {self.threshold:g}"
        if self.estimand is not None:
            label += f" [{self.estimand}]"
        if self.min_seeds is not None:
            label += f" [seeds>={self.min_seeds}]"
        return label

    def holds(self, observed: float) -> bool:
        return COMPARE[self.op](observed, self.threshold)


class GateSpec(_Model):
    """A named gate: passes when any rule passes."""

    name: str = Field(pattern=r"^[A-Za-z0-9_@.-]{1,64}$")
    rules: tuple[GateRule, ...] = Field(min_length=1)


class Override(_Model):
    gates: tuple[GateSpec, ...] = ()
    remove: tuple[str, ...] = ()


class GatePolicy(_Model):
    """The gates of every candidate, with per-experiment and per-domain overrides."""

    version: Literal[1] = 1
    gates: tuple[GateSpec, ...] = Field(min_length=1)
    experiments: dict[str, Override] = Field(default_factory=dict)
    domains: dict[str, Override] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> GatePolicy:
        for where, gates in [("gates", self.gates)] + [
            (f"{kind}[{key!r}].gates", o.gates) for kind, table in (("experiments", self.experiments), ("domains", self.domains))
            for key, o in table.items()
        ]:
            names = [g.name for g in gates]
            if len(names) != len(set(names)):
                raise ValueError(f"{where}: a gate name appears twice")
        return self

    def gates_for(self, experiment: str, domain: str) -> tuple[GateSpec, ...]:
        """The default gates after the domain override, then the experiment override."""
        gates = {g.name: g for g in self.gates}
        for override in (self.domains.get(domain), self.experiments.get(experiment)):
            if override is None:
                continue
            for name in override.remove:
                gates.pop(name, None)
            gates.update({g.name: g for g in override.gates})
        return tuple(gates.values())


def _rule(source: Source, metric: str, op: Op, threshold: float) -> GateRule:
    return GateRule(source=source, metric=metric, op=op, threshold=threshold)


#: The seed's four gates. Latency passes on its absolute p95, or when the upper CI bound of the
#: candidate-minus-baseline p95 stays within +5 ms (drift, judged on the pessimistic end).
DEFAULT_POLICY = GatePolicy(gates=(
    GateSpec(name="visual_ablation_drop_pct", rules=(_rule("metric", "visual_ablation_drop_pct", ">=", 5.0),)),
    GateSpec(name="v1_v2_corr", rules=(_rule("metric", "v1_v2_corr", "<", 0.95),)),
    GateSpec(name="latency_p95_ms", rules=(
        _rule("metric", "latency_p95_ms", "<", 50.0),
        _rule("delta_ci95_upper", "latency_p95_ms", "<=", 5.0),
    )),
    GateSpec(name="ndcg10_ci95_lower", rules=(_rule("delta_ci95_lower", "ndcg@10", ">", 0.0),)),
))


def load_policy(path: Path | None) -> GatePolicy:
    """The policy in ``path`` (YAML), or the default when ``path`` is None."""
    if path is None:
        return DEFAULT_POLICY
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"gate policy {path}: cannot read it: {exc}") from exc
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"gate policy {path}: {exc}") from exc

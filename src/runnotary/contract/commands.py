"""The command grammar: one verb per model, read from the ``commands`` topic and answered on
``commands.replies``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, RootModel, StringConstraints, model_validator

from runnotary.contract.fields import Frozen, Identifier, SafeName, Sha256
from runnotary.contract.run import RunCreated

__all__ = [
    "COMMAND_NAMES",
    "BaselineSelector",
    "Command",
    "CommandError",
    "CommandName",
    "CommandReply",
    "ComputeStats",
    "EmitBundle",
    "GateCheck",
    "PairAB",
    "Reconcile",
    "RegisterRun",
]


class RegisterRun(Frozen):
    """Register a run: the data of a runs.created event under ``run``."""

    command: Literal["register_run"]
    run: RunCreated


class BaselineSelector(Frozen):
    """Which baseline a candidate is paired with: exactly one of ``{run_id}``,
    ``{dataset_sha256, seed_family}`` or ``{newest_matching: true}``."""

    run_id: Identifier | None = None
    dataset_sha256: Sha256 | None = None
    seed_family: Identifier | None = None
    newest_matching: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one_form(self) -> BaselineSelector:
        forms = [self.run_id is not None, self.dataset_sha256 is not None or self.seed_family is not None,
                 self.newest_matching is not None]
        if sum(forms) != 1 or (forms[1] and (self.dataset_sha256 is None or self.seed_family is None)):
            raise ValueError('give exactly one of {"run_id": ...}, {"dataset_sha256": ..., "seed_family": ...} '
                             'or {"newest_matching": true}')
        return self


class PairAB(Frozen):
    """Pair a candidate run with a baseline, evaluate its gates and publish gates.status."""

    command: Literal["pair_ab"]
    candidate_run_id: Identifier
    baseline_selector: BaselineSelector


class ComputeStats(Frozen):
    """Paired statistics of a candidate against a baseline run; nothing is published."""

    command: Literal["compute_stats"]
    candidate_run_id: Identifier
    baseline_run_id: Identifier
    metrics: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=16, description="metrics to compare; empty means every comparable metric")
    method: Literal["percentile", "bca", "permutation"] = "bca"
    n_resamples: int | None = Field(None, ge=100, le=1_000_000, description="default: the service's setting")
    random_state: int | None = Field(None, ge=0, le=2**63 - 1, description="default: the service's setting")


class EmitBundle(Frozen):
    """Write a meeting's evidence bundle and publish bundles.emitted (what meetings.requested does)."""

    command: Literal["emit_bundle"]
    meeting_id: SafeName
    candidates: list[Identifier] = Field(min_length=1, description="candidate_ids the meeting decides on")
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "commands"


class GateCheck(Frozen):
    """Re-evaluate a candidate's gates with the current policy and publish gates.status."""

    command: Literal["gate_check"]
    candidate_run_id: Identifier


class Reconcile(Frozen):
    """Pair every registered candidate whose baseline is registered but which has no gate status
    (after a restore, or a pairing lost to anything else) and publish their gates.status."""

    command: Literal["reconcile"]
    max_runs: int = Field(10_000, ge=1, le=1_000_000, description="candidates without a gate status to examine at most")


CommandName = Literal["register_run", "pair_ab", "compute_stats", "emit_bundle", "gate_check", "reconcile"]
COMMAND_NAMES: tuple[str, ...] = ("register_run", "pair_ab", "compute_stats", "emit_bundle", "gate_check", "reconcile")


class Command(RootModel[Annotated[RegisterRun | PairAB | ComputeStats | EmitBundle | GateCheck | Reconcile,
                                  Field(discriminator="command")]]):
    """One command of the seed's grammar; the ``command`` field names the verb."""

    model_config = ConfigDict(frozen=True)


class CommandError(Frozen):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
    message: str


class CommandReply(Frozen):
    """The answer to one command: a result, or an error that names what was wrong."""

    correlationid: str = Field(description="the id of the command event this answers")
    command: CommandName | None = Field(description="the verb, or null when the command could not be read")
    status: Literal["ok", "error"]
    result: dict[str, Any] | None = None
    error: CommandError | None = None

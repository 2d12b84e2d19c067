"""The command grammar's contract: selectors, verbs, replies to malformed commands, reply ids, CLI bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from runnotary.consumers.cli import main
from runnotary.consumers.commands import Commands, invalid_command_reply, reply_message
from runnotary.contract import (
    TOPICS, BaselineSelector, Command, CommandError, CommandReply, ComputeStats, GateCheck, InvalidEvent, decode,
    encode, envelope,
)

SHA = "ab" * 32


@pytest.mark.parametrize("selector", [{"run_id": "r1"}, {"dataset_sha256": SHA, "seed_family": "fam"}, {"newest_matching": True}])
def test_each_selector_form_is_accepted(selector: dict[str, Any]) -> None:
    assert BaselineSelector.model_validate(selector).model_dump(exclude_none=True) == selector


@pytest.mark.parametrize(
    "selector",
    [{}, {"run_id": "r1", "newest_matching": True}, {"dataset_sha256": SHA}, {"seed_family": "fam"},
     {"run_id": "r1", "dataset_sha256": SHA, "seed_family": "fam"}, {"newest_matching": False}, {"newest": True}],
)
def test_a_selector_that_is_not_exactly_one_form_is_refused(selector: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BaselineSelector.model_validate(selector)


def test_the_command_field_picks_the_verb_and_names_bad_fields() -> None:
    command = Command.model_validate({"command": "gate_check", "candidate_run_id": "abc"})
    assert command.root == GateCheck(command="gate_check", candidate_run_id="abc")
    stats = Command.model_validate({"command": "compute_stats", "candidate_run_id": "a", "baseline_run_id": "b",
                                    "method": "permutation", "n_resamples": 500, "random_state": 1})
    assert isinstance(stats.root, ComputeStats) and stats.root.method == "permutation"
    with pytest.raises(ValidationError, match="method"):
        Command.model_validate({"command": "compute_stats", "candidate_run_id": "a", "baseline_run_id": "b", "method": "t-test"})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        Command.model_validate({"command": "drop_table"})


def test_a_command_event_roundtrips_with_the_verb_at_the_top_of_data() -> None:
    command = Command.model_validate({"command": "pair_ab", "candidate_run_id": "c1", "baseline_selector": {"run_id": "b1"}})
    raw = encode(envelope("commands", command, subject="c1"))
    doc = json.loads(raw)
    assert doc["type"] == "io.runnotary.commands.v1" and doc["data"]["command"] == "pair_ab"
    assert decode("commands", raw).data == command


def test_replies_have_their_own_topic_and_type() -> None:
    spec = TOPICS["commands.replies"]
    assert (spec.direction, spec.event_type, spec.payload) == ("out", "io.runnotary.commands.replies.v1", CommandReply)


def test_a_reply_is_keyed_and_identified_by_its_command_so_a_replay_repeats_its_id() -> None:
    reply = CommandReply(correlationid="cmd-1", command="gate_check", status="ok", result={"x": 1})
    first, again = reply_message(reply), reply_message(reply)
    other = reply_message(reply.model_copy(update={"correlationid": "cmd-2"}))
    assert first.topic == "commands.replies" and first.key == "cmd-1"
    event = decode("commands.replies", first.value)
    assert event.subject == "cmd-1" and event.data == reply
    assert event.id == decode("commands.replies", again.value).id != decode("commands.replies", other.value).id


def _raw(data: Any, **envelope_fields: Any) -> bytes:
    doc = {"specversion": "1.0", "id": "cmd-42", "source": "urn:test", "type": "io.runnotary.commands.v1",
           "time": "2026-11-26T12:00:00Z", "data": data, **envelope_fields}
    return json.dumps(doc).encode()


def test_an_invalid_command_with_a_readable_id_gets_an_error_reply_naming_the_problem() -> None:
    raw = _raw({"command": "pair_ab", "candidate_run_id": "c1", "baseline_selector": {"run_id": "b", "newest_matching": True}})
    with pytest.raises(InvalidEvent) as problem:
        decode("commands", raw)
    reply = invalid_command_reply(raw, problem.value)
    assert reply is not None
    assert (reply.correlationid, reply.command, reply.status) == ("cmd-42", "pair_ab", "error")
    assert reply.error is not None and reply.error.code == "invalid_command"
    assert "baseline_selector" in reply.error.message and "exactly one" in reply.error.message


@pytest.mark.parametrize("raw", [None, b"\x00garbage", b"[1, 2]", b'{"data": {"command": "gate_check"}}', b'{"id": ""}', b'{"id": 7}'])
def test_a_command_without_a_readable_id_is_left_to_the_dead_letter_topic(raw: bytes | None) -> None:
    assert invalid_command_reply(raw, InvalidEvent("bad")) is None
    with pytest.raises(InvalidEvent):
        # The handlers are never reached for a message that does not decode.
        Commands(handlers=None).handle_message(raw)  # type: ignore[arg-type]


def test_handle_message_answers_an_unknown_verb_with_an_error_reply() -> None:
    outgoing = Commands(handlers=None).handle_message(_raw({"command": "drop_table"}))  # type: ignore[arg-type]
    assert [o.topic for o in outgoing] == ["commands.replies"]
    reply = decode("commands.replies", outgoing[0].value).data
    assert reply.command is None and reply.error == CommandError(code="invalid_command", message=reply.error.message)
    assert "drop_table" in reply.error.message


def test_a_wrong_event_type_is_answered_not_executed() -> None:
    outgoing = Commands(handlers=None).handle_message(  # type: ignore[arg-type]
        _raw({"command": "gate_check", "candidate_run_id": "c"}, type="io.runnotary.runs.created.v1"))
    reply = decode("commands.replies", outgoing[0].value).data
    assert reply.status == "error" and "io.runnotary.commands.v1" in reply.error.message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compute-stats", "c1", "b1", "--n-resamples", "5"], "n_resamples"),
        (["pair-ab", "c1", "--dataset-sha256", SHA], "exactly one"),
        (["gate-check", "not a run id"], "candidate_run_id"),
        (["emit-bundle", "../escape", "cand"], "meeting_id"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_field(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_to_publish_without_a_kafka_cluster(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RUNNOTARY_KAFKA_BOOTSTRAP", raising=False)
    assert main(["gate-check", "c1"]) == 2
    assert "RUNNOTARY_KAFKA_BOOTSTRAP" in capsys.readouterr().err

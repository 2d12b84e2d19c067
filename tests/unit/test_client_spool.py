"""The offline spool: whole records or none, one per event id, oldest first, torn writes ignored."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runnotary.client import Spool, SpooledEvent, SpoolError


def _event(event_id: str, value: bytes = b'{"id": 1}') -> SpooledEvent:
    return SpooledEvent(event_id=event_id, topic="runnotary.runs.created", key=b"k", value=value,
                        headers=[("content-type", b"application/cloudevents+json; charset=UTF-8")])


def test_a_record_reads_back_byte_for_byte(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    value = bytes(range(256))
    path = spool.put(_event("e1", value))
    back = SpooledEvent.from_file(path)
    assert (back.event_id, back.topic, back.key, back.value, back.headers) == (
        "e1", "runnotary.runs.created", b"k", value, [("content-type", b"application/cloudevents+json; charset=UTF-8")])


def test_an_event_id_is_spooled_once_with_its_first_content(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first = spool.put(_event("e1", b"first"))
    assert spool.put(_event("e1", b"second")) == first
    assert len(spool) == 1 and SpooledEvent.from_file(first).value == b"first"


def test_records_are_listed_in_the_order_they_were_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ids = ["zzz", "aaa", "mmm"]
    for event_id in ids:
        spool.put(_event(event_id))
    assert [SpooledEvent.from_file(p).event_id for p in spool.paths()] == ids


def test_a_torn_temporary_file_is_never_read_and_is_cleaned_when_abandoned(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(_event("whole"))
    torn = tmp_path / ".tmp-999-00000000000000000001-torn.event.json"
    torn.write_bytes(b'{"version": 1, "event_id": "torn", "val')  # a crash mid-write
    assert [SpooledEvent.from_file(p).event_id for p in spool.paths()] == ["whole"]
    assert spool.clean_temporary() == 0  # could still be a live writer
    old = time.time() - 3600
    os.utime(torn, (old, old))
    assert spool.clean_temporary() == 1 and not torn.exists()
    assert len(spool) == 1


def test_a_damaged_record_is_a_clear_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.put(_event("e1"))
    path.write_text("{not json")
    with pytest.raises(SpoolError, match="cannot be read"):
        SpooledEvent.from_file(path)


def test_remove_deletes_the_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(_event("e1"))
    spool.remove(SpooledEvent.from_file(spool.paths()[0]))
    assert len(spool) == 0 and spool.find("e1") is None


def test_an_unwritable_spool_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError, match="cannot write to the spool"):
        Spool(blocker / "spool").put(_event("e1"))

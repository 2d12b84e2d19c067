"""The offline spool: events the broker did not acknowledge, one file per event id, sent later as they are.

A record is written to a temporary file, fsynced, then renamed into place (and the directory
fsynced), so a record either exists whole or not at all; a crash mid-write leaves only a
temporary file, which is never read and is removed once it is old enough to be abandoned.
File names start with the time the event was spooled, so a flush sends events in the order
they were published (a baseline before the candidate that follows it). The bytes of an event are
stored as they were encoded: a flush resends the same id with the same content.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runnotary.client.errors import SpoolError

__all__ = ["Spool", "SpooledEvent", "default_spool_dir"]

_SUFFIX = ".event.json"
_TEMP = ".tmp-"
#: A temporary file older than this was left by a crash (a live write takes milliseconds).
_ABANDONED_AFTER_S = 600.0


def default_spool_dir() -> Path:
    """``$XDG_STATE_HOME/runnotary/spool``, i.e. ``~/.local/state/runnotary/spool`` by default."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "runnotary" / "spool"


@dataclass(frozen=True)
class SpooledEvent:
    """One message as it will be produced: topic, key, value and headers, byte for byte."""

    event_id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    path: Path | None = None

    def to_json(self) -> str:
        return json.dumps({
            "version": 1,
            "event_id": self.event_id,
            "topic": self.topic,
            "key_b64": base64.b64encode(self.key).decode(),
            "value_b64": base64.b64encode(self.value).decode(),
            "headers": [[k, base64.b64encode(v).decode()] for k, v in self.headers],
        }, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> SpooledEvent:
        try:
            doc = json.loads(path.read_bytes())
            return cls(
                event_id=doc["event_id"], topic=doc["topic"], key=base64.b64decode(doc["key_b64"]),
                value=base64.b64decode(doc["value_b64"]),
                headers=[(k, base64.b64decode(v)) for k, v in doc["headers"]], path=path,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpoolError(f"spool record {str(path)!r} cannot be read: {exc}") from exc


class Spool:
    """A directory of events waiting for the broker."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def put(self, event: SpooledEvent) -> Path:
        """Store ``event`` durably; an event id already spooled keeps its first record."""
        if "/" in event.event_id or event.event_id.startswith("."):
            raise SpoolError(f"event id {event.event_id!r} cannot name a spool file")
        existing = self.find(event.event_id)
        if existing is not None:
            return existing
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            final = self.directory / f"{time.time_ns():020d}-{event.event_id}{_SUFFIX}"
            temp = self.directory / f"{_TEMP}{os.getpid()}-{final.name}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, event.to_json().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
            self._fsync_directory()
        except OSError as exc:
            raise SpoolError(f"cannot write to the spool {str(self.directory)!r}: {exc}") from exc
        return final

    def find(self, event_id: str) -> Path | None:
        return next(iter(self.directory.glob(f"*-{event_id}{_SUFFIX}")), None) if self.directory.is_dir() else None

    def paths(self) -> list[Path]:
        """Complete records, oldest first (temporary files are never listed)."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX) and not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.paths())

    def remove(self, event: SpooledEvent) -> None:
        if event.path is not None:
            event.path.unlink(missing_ok=True)
            self._fsync_directory()

    def clean_temporary(self, older_than_s: float = _ABANDONED_AFTER_S) -> int:
        """Delete temporary files a crashed writer left behind; return how many."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        now = time.time()
        for path in self.directory.glob(f"{_TEMP}*"):
            try:
                if now - path.stat().st_mtime >= older_than_s:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool's lock: two flushes at once would each send the same records."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot lock the spool {str(self.directory)!r}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

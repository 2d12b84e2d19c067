"""Request a meeting's evidence bundle in one call: a validated ``meetings.requested`` event, keyed by
the meeting id, acknowledged by the broker or spooled for a later flush (like a run's publish)::

    from runnotary.client import request_meeting

    requested = request_meeting("weekly-review", ["retrieval-cand-a", "retrieval-cand-b"], requested_by="ana")
    print(requested.event_id, requested.status)
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from urllib.parse import quote

from pydantic import ValidationError

from runnotary.client.errors import InvalidMeeting
from runnotary.client.publisher import Published, deliver
from runnotary.client.settings import ClientSettings
from runnotary.contract import MeetingRequested, envelope

__all__ = ["build_meeting_request", "request_meeting"]


def _requester() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def build_meeting_request(meeting_id: str, candidates: Sequence[str], requested_by: str | None = None) -> MeetingRequested:
    """The validated request; :class:`InvalidMeeting` names each field that breaks the contract."""
    if isinstance(candidates, str):  # one id passed bare would be read as its characters
        candidates = [candidates]
    try:
        return MeetingRequested(meeting_id=meeting_id, candidates=list(candidates),
                                requested_by=requested_by if requested_by is not None else _requester())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()[:10])
        raise InvalidMeeting(f"the request does not satisfy the meetings.requested contract: {problems}") from exc


def request_meeting(meeting_id: str, candidates: Sequence[str], *, requested_by: str | None = None,
                    settings: ClientSettings | None = None, source: str | None = None) -> Published:
    """Ask the service for the bundle of ``meeting_id`` deciding on ``candidates`` (candidate ids).

    ``requested_by`` defaults to the login name. The event is keyed by the meeting id, so two requests
    for one meeting stay in order; ``status`` is ``delivered`` once the broker acknowledged it, else
    ``spooled`` (``runnotary flush`` or the next publish sends it).
    """
    request = build_meeting_request(meeting_id, candidates, requested_by)
    settings = settings or ClientSettings()
    source = source or "urn:runnotary:reviewer:" + "/".join(
        quote(p, safe="") for p in (socket.gethostname() or "unknown-host", request.requested_by))
    event = envelope("meetings.requested", request, subject=request.meeting_id, source=source)
    return deliver("meetings.requested", event, request.meeting_id, settings)

"""What a message that cannot be processed becomes: one dead-letter policy, with a size guard.

A dead-letter record must always fit the broker, or the service would stop on the message it
wanted to set aside and meet it again at every restart. Above ``max_record_bytes`` the value
is replaced by its sha256, size and a bounded prefix; the record's source topic, partition and
offset stay the way to fetch the original. Error texts are redacted before they leave.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from runnotary.consumers.loop import Message
from runnotary.contract import DeadLetter, DeadLetterHeader, b64, deadletter_headers
from runnotary.errors import redact

__all__ = ["DeadLetterPolicy"]


@dataclass(frozen=True)
class DeadLetterPolicy:
    """Builds the dead-letter record of a failed message.

    ``max_record_bytes`` bounds the encoded key, headers and value together (base64 grows them
    by a third); ``prefix_bytes`` is how much of an oversize value is kept; ``max_error_chars``
    bounds the reason.
    """

    group_id: str
    max_record_bytes: int = 256 * 1024
    prefix_bytes: int = 4096
    max_error_chars: int = 4000

    def record(self, message: Message, error: str, error_type: str) -> DeadLetter:
        key, value = message.key(), message.value()
        budget = self.max_record_bytes - self.max_error_chars - 1024  # room for the envelope and fields
        headers = []
        for header in deadletter_headers(message.headers()):
            cost = len(header.key) + len(header.value_b64 or "")
            keep = cost <= budget // 4  # an oversize header keeps its name, not its value
            headers.append(header if keep else DeadLetterHeader(key=header.key[:256], value_b64=None))
            budget -= min(cost, len(header.key) + 16)
        key_b64 = b64(key if key is None or len(key) * 4 // 3 <= budget // 4 else key[: self.prefix_bytes])
        budget -= len(key_b64 or "")
        truncated = value is not None and (len(value) + 2) // 3 * 4 > budget
        shown = value[: self.prefix_bytes] if truncated and value is not None else value
        return DeadLetter(
            source_topic=message.topic() or "", partition=message.partition() or 0, offset=message.offset() or 0,
            key_b64=key_b64, value_b64=b64(shown), error=redact(error)[: self.max_error_chars],
            error_type=error_type, group_id=self.group_id, headers=headers,
            value_sha256=hashlib.sha256(value).hexdigest() if value is not None else None,
            value_size=len(value) if value is not None else None, value_truncated=truncated,
        )

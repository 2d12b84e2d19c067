"""SHA-256, runnotary's one content hash: how a file is hashed, and how a digest is written.

Standard library only, so the light client and the registry share it without either pulling in
the other's dependencies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["SHA256_PATTERN", "sha256_file", "sha256_stream"]

#: A digest as runnotary writes and accepts it: 64 lowercase hexadecimal digits.
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_CHUNK = 1 << 20


def sha256_stream(stream: BinaryIO, each: Callable[[bytes], None] | None = None) -> tuple[str, int]:
    """The hex digest and size of what ``stream`` yields up to its end, read in 1 MiB chunks.

    ``each`` sees every chunk before it is hashed (to copy it, count it, or refuse it by raising).
    """
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        if each is not None:
            each(chunk)
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    """The hex digest and size of a file."""
    with Path(path).open("rb") as fh:
        return sha256_stream(fh)

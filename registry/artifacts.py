"""Artifact files: resolve untrusted paths under a root, hash them, describe them."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from runnotary.contract import ArtifactKind, safe_relative_path
from runnotary.digests import sha256_stream
from runnotary.registry.errors import (
    ArtifactError, ArtifactMissing, ArtifactTooLarge, ArtifactUnreadable, UnsafeArtifactPath,
)

__all__ = ["ArtifactRecord", "MAX_ARTIFACT_BYTES", "copy_hashed", "resolve_under", "viewer_for"]

#: Default ceiling on one artifact the registry copies, hashes and uploads.
MAX_ARTIFACT_BYTES = 256 << 20


@dataclass(frozen=True)
class ArtifactRecord:
    """One hashed artifact of a run: the row of the artifact index."""

    run_id: str
    kind: ArtifactKind
    path: str
    sha256: str
    size: int
    viewer: str
    claimed_sha256: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def resolve_under(root: Path, relative: str) -> Path:
    """Return the real path of ``relative`` below ``root``, refusing anything that leaves it.

    The lexical check (``safe_relative_path``) already refused ``..`` and absolute paths;
    resolving symlinks here catches a link inside the root that points outside it.
    """
    try:
        relative = safe_relative_path(relative)
    except ValueError as exc:
        raise UnsafeArtifactPath(str(exc)) from exc
    try:
        real_root = root.resolve()
        candidate = (real_root / relative).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop raises RuntimeError on Python < 3.13
        raise ArtifactUnreadable(f"artifact {relative!r} cannot be resolved (symlink loop?): {exc.__class__.__name__}") from exc
    if candidate != real_root and real_root not in candidate.parents:
        raise UnsafeArtifactPath(f"artifact path {relative!r} resolves outside the artifact root")
    try:
        mode = candidate.stat().st_mode
    except FileNotFoundError:
        raise ArtifactMissing(f"artifact {relative!r} is missing (no file under the artifact root)") from None
    except OSError as exc:
        raise ArtifactUnreadable(f"artifact {relative!r} cannot be read: {exc.strerror or exc.__class__.__name__}") from exc
    if not stat.S_ISREG(mode):
        raise ArtifactUnreadable(f"artifact {relative!r} is not a regular file")
    return candidate


def copy_hashed(root: Path, relative: str, target: Path, max_bytes: int = MAX_ARTIFACT_BYTES) -> tuple[str, int]:
    """Copy the artifact ``relative`` below ``root`` to ``target`` and hash the bytes copied.

    The copy is what gets uploaded and recomputed, so the bytes verified are the bytes used
    even if the training job rewrites the file afterwards. Files over ``max_bytes`` are refused
    (``ArtifactTooLarge``), by their size before reading and by the bytes read while copying.
    Returns ``(sha256, size)``.
    """
    source = resolve_under(root, relative)
    # O_NONBLOCK: a FIFO swapped in after the check must not block the service on open.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        raise ArtifactUnreadable(f"artifact {relative!r} cannot be opened: {exc.strerror or exc.__class__.__name__}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(fd, "rb") as fh, target.open("wb") as out:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ArtifactUnreadable(f"artifact {relative!r} is not a regular file")
            if info.st_size > max_bytes:
                raise ArtifactTooLarge(f"artifact {relative!r} has {info.st_size} bytes, over the limit of {max_bytes}")
            copied = 0

            def copy(chunk: bytes) -> None:  # the bytes hashed are the bytes written, up to the limit
                nonlocal copied
                copied += len(chunk)
                if copied > max_bytes:
                    raise ArtifactTooLarge(f"artifact {relative!r} grew past the limit of {max_bytes} bytes while read")
                out.write(chunk)

            sha256, size = sha256_stream(fh, copy)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise ArtifactUnreadable(f"artifact {relative!r} cannot be read: {exc.strerror or exc.__class__.__name__}") from exc
    except ArtifactError:
        target.unlink(missing_ok=True)
        raise
    return sha256, size


def viewer_for(path: str) -> str:
    """How a reviewer opens the file (the artifact index's ``viewer`` column)."""
    ext = os.path.splitext(path)[1].lower()
    return {".json": "json", ".png": "img", ".jpg": "img", ".csv": "table", ".log": "text", ".yaml": "text"}.get(ext, "file")

"""Artifact files: resolve untrusted paths under a root, hash them, describe them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from runnotary.registry.errors import ArtifactError, UnsafeArtifactPath
from runnotary.registry.models import ArtifactKind, safe_relative_path

__all__ = ["ArtifactRecord", "resolve_under", "sha256_file", "viewer_for"]

_CHUNK = 1 << 20


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
    relative = safe_relative_path(relative)
    real_root = root.resolve()
    candidate = (real_root / relative).resolve()
    if candidate != real_root and real_root not in candidate.parents:
        raise UnsafeArtifactPath(f"artifact path {relative!r} resolves outside the artifact root")
    if not candidate.is_file():
        raise ArtifactError(f"artifact {relative!r} is missing (no file under the artifact root)")
    return candidate


def sha256_file(path: Path) -> tuple[str, int]:
    """Return the SHA-256 hex digest and size of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def viewer_for(path: str) -> str:
    """How a reviewer opens the file (the artifact index's ``viewer`` column)."""
    ext = os.path.splitext(path)[1].lower()
    return {".json": "json", ".png": "img", ".jpg": "img", ".csv": "table", ".log": "text", ".yaml": "text"}.get(ext, "file")

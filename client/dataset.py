"""Full-content SHA-256 of a data set made of files and directories.

The digest depends on the bytes and relative names of the files only, never on where the data
set sits, the order the paths are given in or the order the file system lists them: each file
is hashed streaming, and the data set's digest is the SHA-256 of a manifest with one line per
file, sorted by relative path::

    runnotary-dataset-v1
    <sha256> <size> "<relative/path>"

A directory contributes its files under its own name (``data/`` holding ``a.csv`` gives
``data/a.csv``); a file given alone contributes its name. Symbolic links are refused wherever
they point: a link inside the data set would make its digest depend on what lies outside it, or
hash one file twice under two names. Pass the directory the links point into instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runnotary.client.errors import ProvenanceError, UnsafeDatasetPath
from runnotary.digests import sha256_stream

__all__ = ["DatasetDigest", "hash_dataset", "PROGRESS_THRESHOLD"]

_HEADER = "runnotary-dataset-v1\n"
#: Data sets at least this large get a progress bar on a terminal's stderr.
PROGRESS_THRESHOLD = 256 << 20


@dataclass(frozen=True)
class DatasetDigest:
    """The digest of a data set and the manifest it was computed from."""

    sha256: str
    files: int
    size: int
    manifest: str


def hash_dataset(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    progress: bool | None = None,
    stream: IO[str] | None = None,
) -> DatasetDigest:
    """Hash the files and directories of ``paths`` as one data set.

    ``progress``: ``True`` always draws a bar on ``stream`` (stderr by default), ``False`` never,
    ``None`` when the stream is a terminal and the data set holds at least ``PROGRESS_THRESHOLD`` bytes.
    """
    roots = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not roots:
        raise ProvenanceError("no data set paths given")
    entries = _collect(roots)
    total = sum(size for _, _, size in entries)
    out = stream if stream is not None else sys.stderr
    show = progress if progress is not None else (total >= PROGRESS_THRESHOLD and out.isatty())
    bar = _Progress(total, out) if show else None
    lines = [_HEADER]
    for name, path, size in entries:
        digest, read = _sha256(path, bar)
        if read != size:
            raise ProvenanceError(f"data set file {name!r} changed while it was hashed ({size} -> {read} bytes)")
        lines.append(f"{digest} {read} {json.dumps(name, ensure_ascii=False)}\n")
    if bar is not None:
        bar.close()
    manifest = "".join(lines)
    return DatasetDigest(hashlib.sha256(manifest.encode()).hexdigest(), len(entries), total, manifest)


def _collect(roots: Iterable[Path]) -> list[tuple[str, Path, int]]:
    """(relative name, path, size) of every regular file, sorted by name; refuses links and oddities."""
    found: dict[str, tuple[Path, int]] = {}
    for root in roots:
        if root.is_symlink():
            raise UnsafeDatasetPath(f"data set path {str(root)!r} is a symbolic link; give the path it points to")
        if not root.exists():
            raise ProvenanceError(f"data set path {str(root)!r} does not exist")
        base = root.resolve()
        for path in _walk(base):
            name = f"{base.name}/{path.relative_to(base).as_posix()}" if base.is_dir() else base.name
            if name in found:
                raise ProvenanceError(f"two data set paths both provide {name!r}; give their common parent instead")
            found[name] = (path, path.stat().st_size)
    if not found:
        raise ProvenanceError(f"the data set {[str(r) for r in roots]} holds no files")
    return [(name, *found[name]) for name in sorted(found)]


def _walk(path: Path) -> Iterable[Path]:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise UnsafeDatasetPath(f"data set entry {str(path)!r} is a symbolic link (links are not followed)")
    if stat.S_ISREG(mode):
        yield path
    elif stat.S_ISDIR(mode):
        for child in sorted(path.iterdir()):
            yield from _walk(child)
    else:
        raise UnsafeDatasetPath(f"data set entry {str(path)!r} is neither a file nor a directory")


def _sha256(path: Path, bar: _Progress | None) -> tuple[str, int]:
    try:
        # O_NOFOLLOW: a file swapped for a link after the walk is refused, not followed.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ProvenanceError(f"cannot read data set file {str(path)!r}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        return sha256_stream(fh, None if bar is None else lambda chunk: bar.advance(len(chunk)))


class _Progress:
    """A one-line bar on a text stream, redrawn at most ten times a second."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.drawn >= 0.1 or self.done >= self.total:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        share = self.done / self.total
        rate = self.done / max(now - self.started, 1e-9) / (1 << 20)
        filled = int(share * 30)
        self.stream.write(f"\rhashing data set [{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} "
                          f"{self.done / (1 << 20):,.0f}/{self.total / (1 << 20):,.0f} MiB {rate:,.0f} MiB/s")
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()

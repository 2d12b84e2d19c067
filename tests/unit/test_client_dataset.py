"""Data set hashing: full content, stable across runs, locations and orderings, and no symbolic links."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest

from runnotary.client import ProvenanceError, UnsafeDatasetPath, hash_dataset


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


FILES = {"queries.csv": b"q1,a\nq2,b\n", "qrels/test.tsv": b"q1\td1\t1\n", "qrels/train.tsv": b"q2\td2\t0\n"}


def test_digest_is_the_sha256_of_a_manifest_of_relative_paths(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", FILES)
    digest = hash_dataset(data)
    lines = [f"{hashlib.sha256(FILES[n]).hexdigest()} {len(FILES[n])} \"data/{n}\"\n" for n in sorted(FILES)]
    assert digest.manifest == "runnotary-dataset-v1\n" + "".join(lines)
    assert digest.sha256 == hashlib.sha256(digest.manifest.encode()).hexdigest()
    assert (digest.files, digest.size) == (3, sum(len(v) for v in FILES.values()))


def test_digest_is_stable_across_runs_locations_and_creation_order(tmp_path: Path) -> None:
    first = _tree(tmp_path / "one" / "data", FILES)
    second = _tree(tmp_path / "two" / "data", dict(reversed(list(FILES.items()))))
    assert hash_dataset(first).sha256 == hash_dataset(first).sha256 == hash_dataset(second).sha256


def test_the_order_paths_are_given_in_does_not_matter(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", {"x.csv": b"1"})
    b = _tree(tmp_path / "b", {"y.csv": b"2"})
    assert hash_dataset([a, b]).sha256 == hash_dataset([b, a]).sha256
    assert hash_dataset([a / "x.csv", b / "y.csv"]).sha256 == hash_dataset([b / "y.csv", a / "x.csv"]).sha256


def test_one_changed_byte_changes_the_digest(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", FILES)
    before = hash_dataset(data).sha256
    (data / "qrels" / "test.tsv").write_bytes(b"q1\td1\t0\n")
    assert hash_dataset(data).sha256 != before


def test_a_renamed_file_changes_the_digest(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", FILES)
    before = hash_dataset(data).sha256
    (data / "queries.csv").rename(data / "queries2.csv")
    assert hash_dataset(data).sha256 != before


def test_a_symlink_leaving_the_dataset_root_is_refused(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", FILES)
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", data / "leak.txt")
    with pytest.raises(UnsafeDatasetPath, match="leak.txt.*symbolic link"):
        hash_dataset(data)


def test_a_directory_symlink_leaving_the_root_is_refused(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", FILES)
    _tree(tmp_path / "elsewhere", {"x": b"1"})
    os.symlink(tmp_path / "elsewhere", data / "more", target_is_directory=True)
    with pytest.raises(UnsafeDatasetPath, match="symbolic link"):
        hash_dataset(data)


def test_links_inside_the_root_are_refused_too(tmp_path: Path) -> None:
    """A link would hash one file twice under two names: the policy is no links at all."""
    data = _tree(tmp_path / "data", FILES)
    os.symlink("queries.csv", data / "alias.csv")
    with pytest.raises(UnsafeDatasetPath):
        hash_dataset(data)


def test_a_dataset_path_that_is_itself_a_link_is_refused(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", FILES)
    os.symlink(data, tmp_path / "current")
    with pytest.raises(UnsafeDatasetPath, match="give the path it points to"):
        hash_dataset(tmp_path / "current")


def test_missing_empty_and_clashing_datasets_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError, match="does not exist"):
        hash_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProvenanceError, match="holds no files"):
        hash_dataset(tmp_path / "empty")
    a = _tree(tmp_path / "x" / "data", {"f": b"1"})
    b = _tree(tmp_path / "y" / "data", {"f": b"2"})
    with pytest.raises(ProvenanceError, match="both provide 'data/f'"):
        hash_dataset([a, b])


def test_progress_bar_is_drawn_on_request_and_not_by_default_off_a_terminal(tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", {"big.bin": os.urandom(3 << 20)})
    shown = io.StringIO()
    hash_dataset(data, progress=True, stream=shown)
    assert "hashing data set" in shown.getvalue() and "100.0%" in shown.getvalue()
    quiet = io.StringIO()
    hash_dataset(data, stream=quiet)
    assert quiet.getvalue() == ""


def test_copy_of_a_dataset_hashes_equal(tmp_path: Path) -> None:
    data = _tree(tmp_path / "src" / "data", FILES)
    shutil.copytree(data, tmp_path / "copy" / "data")
    assert hash_dataset(data).sha256 == hash_dataset(tmp_path / "copy" / "data").sha256

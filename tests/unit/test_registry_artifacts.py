"""One bad file never sinks a registration: each failure is a named ArtifactError with its reason code."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from runnotary.registry import ArtifactError, spec_for
from runnotary.registry.artifacts import copy_hashed
from runnotary.registry.errors import ArtifactMissing, ArtifactTooLarge, ArtifactUnreadable, UnsafeArtifactPath
from runnotary.registry.recompute import read_latency_log, read_per_query_table, recompute


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


def test_copy_hashes_the_bytes_it_copies(root: Path, tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    (root / "a.bin").write_bytes(data)
    digest, size = copy_hashed(root, "a.bin", tmp_path / "stage" / "a.bin")
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (tmp_path / "stage" / "a.bin").read_bytes() == data


def test_file_over_the_limit_is_refused_and_leaves_no_copy(root: Path, tmp_path: Path) -> None:
    (root / "big.csv").write_bytes(b"x" * 2000)
    with pytest.raises(ArtifactTooLarge, match="2000 bytes, over the limit of 1000") as info:
        copy_hashed(root, "big.csv", tmp_path / "stage" / "big.csv", max_bytes=1000)
    assert info.value.reason == "artifact_too_large"
    assert not (tmp_path / "stage" / "big.csv").exists()


def test_symlink_loop_is_unreadable_not_a_crash(root: Path, tmp_path: Path) -> None:
    """Before: Path.resolve() raised RuntimeError, which no handler caught."""
    (root / "loop").symlink_to(root / "loop")
    with pytest.raises(ArtifactUnreadable, match="symlink loop") as info:
        copy_hashed(root, "loop", tmp_path / "s" / "loop")
    assert info.value.reason == "artifact_unreadable"


def test_directory_is_not_a_regular_file(root: Path, tmp_path: Path) -> None:
    (root / "d").mkdir()
    with pytest.raises(ArtifactUnreadable, match="not a regular file"):
        copy_hashed(root, "d", tmp_path / "s" / "d")


def test_fifo_is_refused_without_blocking(root: Path, tmp_path: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(ArtifactUnreadable, match="not a regular file"):
        copy_hashed(root, "pipe", tmp_path / "s" / "pipe")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file regardless of its mode")
def test_unreadable_file_is_named(root: Path, tmp_path: Path) -> None:
    (root / "secret.json").write_text("{}")
    (root / "secret.json").chmod(0)
    with pytest.raises(ArtifactUnreadable, match="cannot be opened"):
        copy_hashed(root, "secret.json", tmp_path / "s" / "secret.json")


def test_missing_and_escaping_paths_have_their_reason(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.json").write_text("{}")
    (root / "escape.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(ArtifactMissing) as missing:
        copy_hashed(root, "nope.json", tmp_path / "s" / "nope.json")
    with pytest.raises(UnsafeArtifactPath) as unsafe:
        copy_hashed(root, "escape.json", tmp_path / "s" / "escape.json")
    assert (missing.value.reason, unsafe.value.reason) == ("missing_artifact", "unsafe_artifact_path")


def test_per_query_csv_with_a_short_row_names_the_line(tmp_path: Path) -> None:
    """Before: the short row misaligned the columns and the mean raised IndexError."""
    path = tmp_path / "pq.csv"
    path.write_text("query_id,ndcg@10,compliance@1\nq1,0.5,1\nq2,0.4\nq3,0.3,0\n")
    with pytest.raises(ArtifactError, match=r"pq.csv:3: row has 2 cells, the header has 3"):
        recompute(spec_for("ndcg@10"), path)


def test_correlation_list_holding_a_string_is_an_artifact_error(tmp_path: Path) -> None:
    """Before: numpy raised ValueError, which escaped the registration."""
    path = tmp_path / "corr.json"
    path.write_text(json.dumps({"v1": [1, "two", 3], "v2": [1, 2, 3]}))
    with pytest.raises(ArtifactError, match="'v1' must be a list of numbers"):
        recompute(spec_for("v1_v2_corr"), path)


@pytest.mark.parametrize("name", ["ndcg@10", "latency_p95_ms", "v1_v2_corr"])
def test_non_utf8_files_are_artifact_errors(tmp_path: Path, name: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(b"query_id,ndcg@10\n\xff\xfe,0.5\n")
    with pytest.raises(ArtifactError, match="not UTF-8"):
        recompute(spec_for(name), path)


def test_deeply_nested_json_is_an_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "abl.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArtifactError, match="not valid JSON"):
        recompute(spec_for("visual_ablation_drop_pct"), path)


def test_parse_limit_refuses_large_files_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "lat.log"
    path.write_text("".join(f"t r{i} {i}\n" for i in range(1000)))
    with pytest.raises(ArtifactTooLarge, match="over the parse limit of 100"):
        read_latency_log(path, max_bytes=100)
    with pytest.raises(ArtifactTooLarge):
        read_per_query_table(path, max_bytes=100)
    assert read_latency_log(path).size == 1000


def test_parsed_cache_is_bounded_and_keyed_by_content() -> None:
    from runnotary.registry.evidence_cache import ParsedCache

    cache = ParsedCache(max_entries=2)
    parses: list[str] = []

    def parse(sha: str) -> str:
        parses.append(sha)
        return sha.upper()

    for sha in ["a", "b", "a", "c", "b"]:  # "b" was evicted by "c" (least recently used)
        assert cache.get_or_parse("per_query", sha, lambda sha=sha: parse(sha)) == sha.upper()
    assert parses == ["a", "b", "c", "b"] and len(cache) == 2


def test_parsed_cache_is_bounded_by_the_bytes_it_holds() -> None:
    import numpy as np

    from runnotary.registry.evidence_cache import ParsedCache, footprint

    arrays = {sha: np.zeros(1000) for sha in "abcd"}  # 8,000 bytes each
    assert footprint(arrays["a"]) == 8000
    cache = ParsedCache(max_bytes=20_000)
    parses: list[str] = []

    def parse(sha: str) -> np.ndarray:
        parses.append(sha)
        return arrays[sha]

    for sha in ["a", "b", "a", "c", "b"]:  # two arrays fit: "c" evicts "b", then "b" evicts "a"
        assert cache.get_or_parse("latency_log", sha, lambda sha=sha: parse(sha)) is arrays[sha]
    assert parses == ["a", "b", "c", "b"] and len(cache) == 2 and cache.bytes == 16_000
    big = np.zeros(5000)  # larger than the whole budget: returned, not kept, nothing evicted
    assert cache.get_or_parse("latency_log", "big", lambda: big) is big
    assert len(cache) == 2 and cache.bytes == 16_000


def test_footprint_counts_what_a_parsed_value_holds_and_survives_deep_nesting() -> None:
    import numpy as np

    from runnotary.registry.evidence_cache import footprint
    from runnotary.registry.recompute import PerQueryTable

    short = PerQueryTable("t", {"q": ["q1"] * 10})
    long = PerQueryTable("t", {"q": ["q1"] * 10_000})
    assert footprint(long) - footprint(short) >= 9_990 * sys.getsizeof("q1")  # strings counted, not only the lists
    assert footprint({"a": np.zeros(100)}) > 800
    deep: object = 0
    for _ in range(5000):  # a hostile JSON nesting deeper than the interpreter's recursion limit
        deep = [deep]
    assert footprint(deep) > 0

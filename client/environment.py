"""What a run ran on and with: Python, installed distributions, CUDA, hardware, and the git commit."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from runnotary.client.errors import ProvenanceError
from runnotary.contract import Code, Environment
from runnotary.errors import redact

__all__ = ["current_environment", "git_code", "requirements_lines"]

_CUDA = re.compile(r"CUDA Version:\s*([0-9.]+)")


def requirements_lines() -> list[str]:
    """``name==version`` of every distribution installed in this interpreter, normalised and sorted."""
    pins = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pins.add(f"{re.sub(r'[-_.]+', '-', name).lower()}=={dist.version}")
    return sorted(pins)


def current_environment(cuda_version: str | None = None) -> Environment:
    """The environment of this process. ``env_hash`` covers every field, hardware included.

    ``cuda_version`` overrides detection, which asks, in order: torch when the job already imported
    it, ``CUDA_VERSION`` (set by NVIDIA's images), then ``nvidia-smi``.
    """
    gpus, smi_cuda = _nvidia_smi()
    cuda = cuda_version or _torch_cuda() or os.environ.get("CUDA_VERSION") or smi_cuda
    requirements = hashlib.sha256("\n".join(requirements_lines()).encode()).hexdigest()
    hardware = ", ".join(filter(None, [
        f"{platform.machine() or 'unknown'}", f"{os.cpu_count() or 0} CPUs", _memory(),
        *(f"GPU {name}" for name in gpus),
    ]))
    fields = {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "system": platform.system(),
        "cuda_version": cuda,
        "requirements_hash": requirements,
        "hardware": hardware,
    }
    env_hash = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return Environment(env_hash=env_hash, python_version=fields["python_version"], cuda_version=cuda,
                       requirements_hash=requirements, hardware=hardware)


def _torch_cuda() -> str | None:
    torch = sys.modules.get("torch")  # never imported here: a GPU stack takes seconds to load
    version = getattr(getattr(torch, "version", None), "cuda", None)
    return str(version) if version else None


def _nvidia_smi() -> tuple[list[str], str | None]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return [], None
    try:
        names = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                               timeout=10, check=True).stdout
        header = subprocess.run([smi], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return [], None
    found = _CUDA.search(header)
    return [n.strip() for n in names.splitlines() if n.strip()], found.group(1) if found else None


def _memory() -> str | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return f"{round(pages * size / (1 << 30))} GiB RAM"


def git_code(repo: str | os.PathLike[str] = ".", *, git_commit: str | None = None, dirty: bool | None = None,
             repository: str | None = None) -> Code:
    """The commit, dirty flag and remote of the git work tree at ``repo``.

    Given values win over what git says; outside a repository ``git_commit`` must be given. Dirty
    means tracked files differ from the commit (untracked outputs, e.g. the run's own artifacts, do
    not count). The remote URL is stored without credentials.
    """
    if git_commit is None:
        git_commit = _git(repo, "rev-parse", "HEAD")
    if dirty is None:
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no", required=False))
    if repository is None:
        repository = _git(repo, "config", "--get", "remote.origin.url", required=False) or None
    return Code(git_commit=git_commit, dirty=dirty, repository=redact(repository) if repository else None)


def _git(repo: str | os.PathLike[str], *args: str, required: bool = True) -> str:
    git = shutil.which("git")
    where = Path(repo)
    if git is None:
        if not required:
            return ""
        raise ProvenanceError("git is not installed: give the commit explicitly (git_commit=..., --git-commit)")
    try:
        result = subprocess.run([git, "-C", str(where), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProvenanceError(f"git {args[0]} failed in {str(where)!r}: {exc}") from exc
    if result.returncode != 0:
        if not required:
            return ""
        raise ProvenanceError(
            f"{str(where)!r} is not inside a git repository ({result.stderr.strip() or 'git ' + args[0] + ' failed'}): "
            "run from the training code's repository or give the commit explicitly (git_commit=..., --git-commit)"
        )
    return result.stdout.strip()

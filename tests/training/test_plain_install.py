"""``pip install cove[torch]`` alone is enough to train: a fresh venv (torch from its CPU wheel first, then
Cove from a copy of this tree with the ``torch`` extra, nothing of the dev extras) runs a tiny training with
checkpoints, resumes it, loads the best model at the end and pushes to a Hub with the card and loss plot.

pip's cache is reused; ``pip install torch==2.13.0`` takes the CPU wheel on local disk (pip's find-links),
and the test refuses any other build of torch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def pip(venv: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True, text=True, timeout=600, env=clean_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def clean_env() -> dict[str, str]:
    """This process's environment without what would let the venv see this tree or the dev venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def test_cove_torch_extra_alone_trains_resumes_and_pushes(tmp_path, hub, alice):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=clean_env())
    pip(venv, "torch==2.13.0")  # first, so that the extra resolves to this CPU build
    source = tmp_path / "source"  # a copy: building in the tree would leave build/ and egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip(venv, f"{source}[torch]")

    python = str(venv / "bin" / "python")
    probe = (
        "import importlib.util as u, torch, cove; "
        "print(torch.__version__, torch.version.cuda, cove.__file__, "
        "[m for m in ('safetensors', 'transformers', 'datasets', 'pyarrow', 'fastapi') if u.find_spec(m)])"
    )
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=clean_env(), check=True)
    version, cuda, cove_file, dev_packages = found.stdout.split(" ", 3)
    assert version.endswith("+cpu") and cuda == "None", found.stdout  # never a CUDA build
    assert cove_file.startswith(str(venv)), cove_file  # the installed copy, not this tree
    assert dev_packages.strip() == "[]", dev_packages

    run = subprocess.run(
        [python, str(ROOT / "tests/training/plain_install_run.py"), str(tmp_path / "out"), hub.url, alice],
        capture_output=True, text=True, env=clean_env(), timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(result["full"]) == 6 and result["resumed"] == result["full"]  # the same losses after resuming
    assert result["best_loaded"]
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json",
            "tokenizer.json", "tokenizer_config.json"} <= set(result["checkpoint_files"])  # fmt: skip
    from huggingface_hub import HfApi

    files = set(HfApi(endpoint=hub.url, token=alice).list_repo_files("alice/plain-install"))
    assert {"model.safetensors", "tokenizer.json", "README.md", "loss_curves.png"} <= files

"""The Hub's own suites run again with every Hub's blobs on S3 (``COVE_TEST_STORAGE=s3``, an S3 server of
the run's own: ``tests/s3.py``), in a pytest of their own, the way test_postgres_suites.py does for the
database.

A representative part runs with the default suite: the stock client's LFS uploads (basic and multipart)
and downloads, git-lfs push and clone, Xet upload, dedup and download, and ``cove gc``, once streamed
through the Hub and once with downloads redirected to presigned URLs. All of ``tests/e2e`` and
``tests/server`` with ``pytest -m s3_full`` (minutes). Directly, without this wrapper:
``COVE_TEST_STORAGE=s3 [COVE_TEST_S3_PRESIGN=1] pytest -n 2 tests/e2e tests/server``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import s3

ROOT = Path(__file__).resolve().parents[2]

REPRESENTATIVE = [
    "tests/e2e/test_hf_files.py::test_upload_regular_binary_and_large_files",
    "tests/e2e/test_hf_files.py::test_lfs_batch_basic_and_multipart",
    "tests/e2e/test_hf_files.py::test_multipart_faults",
    "tests/e2e/test_git.py::test_push_regular_and_lfs_files_shows_in_api",
    "tests/e2e/test_git.py::test_clone_public_repo_matches_api",
    "tests/e2e/test_xet.py::test_large_file_up_through_xet_and_down_every_way",
    "tests/e2e/test_xet.py::test_fine_tune_sends_only_what_changed",
    "tests/e2e/test_xet_gc.py",
]


def _run(paths: list[str], *extra: str, presign: bool, timeout: int) -> None:
    if not s3.available():
        pytest.skip(s3.missing_reason())
    env = {**os.environ, "COVE_TEST_STORAGE": "s3", "COVE_TEST_S3_PRESIGN": "1" if presign else "0"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-m", "not fuzz and not postgres_full and not s3_full", "--deselect",
                           "tests/e2e/test_s3_suites.py", "--deselect", "tests/e2e/test_postgres_suites.py",
                           *extra, *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"on S3 (presign={presign}):\n{tail}"


@pytest.mark.timeout(1000)
@pytest.mark.parametrize("presign", [False, True], ids=["streamed", "presigned"])
def test_representative_suites_on_s3(presign):
    _run(REPRESENTATIVE, presign=presign, timeout=900)


@pytest.mark.s3_full
@pytest.mark.timeout(4000)
def test_hub_suites_on_s3():
    _run(["tests/e2e", "tests/server"], "-n", "2", "--deselect", "tests/e2e/test_fuzz.py", presign=False,
         timeout=3600)

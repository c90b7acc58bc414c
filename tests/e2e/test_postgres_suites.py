"""The Hub's own suites run again with every Hub on PostgreSQL (``COVE_TEST_DB=postgresql``, a cluster of
the run's own: ``tests/postgres.py``), in a pytest of their own.

A representative part runs with the default suite (SQLite's dialect hides what PostgreSQL refuses:
string lengths, integer widths, strict types, collations, transactions aborted by an error); all of
``tests/e2e`` and ``tests/server`` with ``pytest -m postgres_full`` (minutes). Directly, without this
wrapper: ``COVE_TEST_DB=postgresql pytest -n 2 tests/e2e tests/server``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import postgres

ROOT = Path(__file__).resolve().parents[2]

#: The stock client end to end (uploads and downloads of every kind: regular, LFS, Xet), two workers
#: starting on one new database (the migration lock), buckets (listings ordered and resumed by path,
#: client inputs at their bounds), the audit log (prefix queries). Serially: test_audit's tests share a Hub.
REPRESENTATIVE = [
    "tests/e2e/test_smoke.py",
    "tests/e2e/test_hf_files.py::test_upload_regular_binary_and_large_files",
    "tests/e2e/test_hf_files.py::test_lfs_batch_basic_and_multipart",
    "tests/e2e/test_hf_files.py::test_create_commit_add_delete_copy",
    "tests/e2e/test_audit.py",
    "tests/e2e/test_buckets.py::test_create_info_list_settings_move_delete",
    "tests/e2e/test_buckets.py::test_folder_sync_both_ways_and_download",
    "tests/e2e/test_buckets.py::test_every_client_input_is_bounded",
]


def _run(paths: list[str], *extra: str, timeout: int) -> None:
    if postgres.binaries() is None:
        pytest.skip(postgres.missing_reason())
    env = {**os.environ, "COVE_TEST_DB": "postgresql"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-m", "not fuzz and not postgres_full", "--deselect",
                           "tests/e2e/test_postgres_suites.py", *extra, *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"on PostgreSQL:\n{tail}"


@pytest.mark.timeout(1000)
def test_representative_suites_on_postgres():
    _run(REPRESENTATIVE, timeout=900)


@pytest.mark.postgres_full
@pytest.mark.timeout(4000)
def test_hub_suites_on_postgres():
    _run(["tests/e2e", "tests/server"], "-n", "2", "--deselect", "tests/e2e/test_fuzz.py", timeout=3600)

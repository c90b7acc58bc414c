"""The Hub's own suites run again with every Hub's blobs on S3 (``COVE_TEST_STORAGE=s3``, an S3 server of
the run's own: ``tests/s3.py``), in a pytest of their own, the way test_postgres_suites.py does for the
database.

A representative part runs with the default suite: the stock client's LFS uploads (basic and multipart)
and downloads, git-lfs push and clone, Xet upload, dedup and download, and ``cove gc``, streamed
through the Hub; and the tests that download every way again with downloads redirected to presigned
URLs. All of ``tests/e2e`` and
``tests/server`` with ``pytest -m s3_full`` (minutes). ``tests/e2e/test_replicas.py`` runs whole here:
two replicas on PostgreSQL and S3 behind nginx. Directly, without this wrapper:
``COVE_TEST_STORAGE=s3 [COVE_TEST_S3_PRESIGN=1] pytest -n 2 tests/e2e tests/server``.

``pytest -m radosgw`` (``make test-radosgw``) runs tests/e2e/test_s3.py, the replicas and the Xet fetch
URL faults on Ceph's radosgw instead of moto (``COVE_TEST_S3_SERVER=radosgw``: tests/radosgw.py), a
store that checks signatures, their signed ``Range`` and their expiry.
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


def _run(paths: list[str], *extra: str, presign: bool, timeout: int, radosgw: bool = False) -> None:
    if not s3.available():
        pytest.skip(s3.missing_reason())
    env = {**os.environ, "COVE_TEST_STORAGE": "s3", "COVE_TEST_S3_PRESIGN": "1" if presign else "0",
           "COVE_TEST_S3_SERVER": "radosgw" if radosgw else "moto"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-m", "not fuzz and not postgres_full and not s3_full", "--deselect",
                           "tests/e2e/test_s3_suites.py", "--deselect", "tests/e2e/test_postgres_suites.py",
                           *extra, *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"on S3 (presign={presign}, radosgw={radosgw}):\n{tail}"
    print(tail.splitlines()[-1] if tail else "")


# presigned URLs change only how downloads are served: the tests that download every way
PRESIGNED = [
    "tests/e2e/test_hf_files.py::test_upload_regular_binary_and_large_files",
    "tests/e2e/test_git.py::test_clone_public_repo_matches_api",
    "tests/e2e/test_xet.py::test_large_file_up_through_xet_and_down_every_way",
]


@pytest.mark.timeout(1000)
@pytest.mark.parametrize("presign", [False, True], ids=["streamed", "presigned"])
def test_representative_suites_on_s3(presign):
    _run(PRESIGNED if presign else REPRESENTATIVE, presign=presign, timeout=900)


@pytest.mark.timeout(1000)
def test_replicas_on_postgresql_and_s3():
    """Issue 18's proof: two replicas on one PostgreSQL and one S3 bucket behind nginx, with the stock client
    (hf_xet), git, concurrent writers on both (2x20 too) and a replica killed mid-upload."""
    _run(["tests/e2e/test_replicas.py"], presign=False, timeout=900)


@pytest.mark.s3_full
@pytest.mark.timeout(4000)
def test_hub_suites_on_s3():
    _run(["tests/e2e", "tests/server"], "-n", "2", "--deselect", "tests/e2e/test_fuzz.py", presign=False,
         timeout=3600)


def _need_radosgw() -> None:
    from tests import radosgw

    if radosgw.missing():
        pytest.skip(radosgw.missing_reason())


@pytest.mark.radosgw
@pytest.mark.timeout(1000)
def test_s3_store_on_radosgw():
    """tests/e2e/test_s3.py and the store's own tests on a store that checks signatures (the expiry test
    runs only there)."""
    _need_radosgw()
    _run(["tests/e2e/test_s3.py", "tests/server/test_s3_store.py"], presign=False, timeout=900, radosgw=True)


#: The Xet fetch URL tests whose presigned form moto cannot check: a wider range than signed, a
#: narrower one, a revoked token (the URL lives its seconds), with every Hub presigning.
XET_FETCH_FAULTS = ["tests/e2e/test_xet_faults.py::test_tokens_and_fetch_urls_die_with_the_hub_token",
                    "tests/e2e/test_xet_faults.py::test_a_repo_reaches_only_its_own_uploads",
                    "tests/e2e/test_xet.py::test_large_file_up_through_xet_and_down_every_way"]


@pytest.mark.radosgw
@pytest.mark.timeout(1000)
def test_presigned_xet_fetches_on_radosgw():
    _need_radosgw()
    _run(XET_FETCH_FAULTS, presign=True, timeout=900, radosgw=True)


@pytest.mark.radosgw
@pytest.mark.timeout(2000)
def test_replicas_on_postgresql_and_radosgw():
    _need_radosgw()
    _run(["tests/e2e/test_replicas.py"], presign=False, timeout=1800, radosgw=True)

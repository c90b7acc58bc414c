"""A throwaway S3-compatible server for the tests: moto's S3 (a real HTTP implementation of the S3 API,
run in a thread of the test process) on a free loopback port, a bucket per Hub.

``COVE_TEST_STORAGE=s3`` runs every Hub the tests start (``tests/conftest.py``: ``start_server``) with
its blobs in a bucket of its own on this server instead of the data dir (``COVE_TEST_S3_PRESIGN=1``:
with downloads redirected to presigned URLs). The server is one per test process, started on first use.

Why moto and not Ceph's ``radosgw``: Debian's radosgw (16.2) stores through librados, so it needs a
Ceph cluster of one (a monitor, a manager and an OSD) set up before it answers, which has not been tried
here yet; moto installs from PyPI
(the ``dev`` extra) and speaks the same HTTP API that boto3, presigned URLs and ranged GETs use. It does
not check signatures and reports a fixed start time for multipart uploads (the sweep test accounts for
it), so behaviours that rest on those are tested against the code, not against moto.
"""

from __future__ import annotations

import os
import threading
import uuid

ACCESS_KEY = "cove-test"
SECRET_KEY = "cove-test-secret"
REGION = "us-east-1"
_lock = threading.Lock()
_shared: S3Server | None = None


def available() -> bool:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


def missing_reason() -> str:
    return "boto3 and moto[server] are not installed: pip install -e '.[dev,s3]'"


class S3Server:
    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def create_bucket(self, prefix: str = "hub") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, prefix: str = "blobs", *, presign: bool = False) -> dict[str, str]:
        """The ``COVE_*`` variables of a Hub whose blobs live in ``bucket`` under ``prefix``."""
        return {"COVE_STORAGE_URL": f"s3://{bucket}/{prefix}", "COVE_S3_ENDPOINT_URL": self.endpoint,
                "COVE_S3_ACCESS_KEY": ACCESS_KEY, "COVE_S3_SECRET_KEY": SECRET_KEY, "COVE_S3_REGION": REGION,
                "COVE_S3_PRESIGN": "1" if presign else "0"}

    def sizes(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """``{key: size}`` of the objects below ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", ())}

    def uploads(self, bucket: str) -> list[str]:
        """Keys of the multipart uploads in progress."""
        return [u["Key"] for u in self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", ())]

    def stop(self) -> None:
        self._server.stop()


def shared_server() -> S3Server:
    """This process's S3 server, started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            if not available():
                raise RuntimeError(missing_reason())
            _shared = S3Server()
        return _shared


def enabled() -> bool:
    """Whether the Hubs the tests start keep their blobs on S3 (``COVE_TEST_STORAGE=s3``)."""
    return os.environ.get("COVE_TEST_STORAGE", "").lower() == "s3"


def presigning() -> bool:
    return os.environ.get("COVE_TEST_S3_PRESIGN", "") == "1"

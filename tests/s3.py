"""A throwaway S3-compatible server for the tests: moto's S3 (a real HTTP implementation of the S3 API,
run in a thread of the test process) on a free loopback port, a bucket per Hub.

``COVE_TEST_STORAGE=s3`` runs every Hub the tests start (``tests/conftest.py``: ``start_server``) with
its blobs in a bucket of its own on this server instead of the data dir (``COVE_TEST_S3_PRESIGN=1``:
with downloads redirected to presigned URLs). The server is one per test process, started on first use.

``COVE_TEST_S3_SERVER=radosgw`` puts that server on Ceph's radosgw instead (``tests/radosgw.py``: a
one-node Ceph cluster started for the run, about 15 s, which checks signatures as AWS does); moto is the
default because it installs from PyPI (the ``dev`` extra) and starts at once. Moto speaks the same HTTP
API that boto3, presigned URLs and ranged GETs use, but it does not check signatures and reports a fixed
start time for multipart uploads (the sweep test accounts for it): what rests on those is tested on
radosgw (``make test-radosgw``).
"""

from __future__ import annotations

import os
import threading
import uuid

ACCESS_KEY = "cove-test"
SECRET_KEY = "cove-test-secret"
REGION = "us-east-1"
_lock = threading.Lock()
_shared: S3Api | None = None


def available() -> bool:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


def missing_reason() -> str:
    return "boto3 and moto[server] are not installed: pip install -e '.[dev,s3]'"


class S3Api:
    """What the tests ask of an S3 server at ``endpoint`` (moto's here, radosgw's in tests/radosgw.py)."""

    endpoint: str

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



class S3Server(S3Api):
    """moto's S3 in a thread of this process."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()


def on_radosgw() -> bool:
    """Whether the tests' S3 server is Ceph's radosgw (``COVE_TEST_S3_SERVER=radosgw``) rather than moto."""
    return os.environ.get("COVE_TEST_S3_SERVER", "").lower() == "radosgw"


def shared_server() -> S3Api:
    """This process's S3 server, started on first use: moto's, or radosgw's when asked."""
    global _shared
    with _lock:
        if _shared is None:
            if on_radosgw():
                from tests import radosgw

                _shared = radosgw.Gateway.start()
            elif not available():
                raise RuntimeError(missing_reason())
            else:
                _shared = S3Server()
        return _shared


def enabled() -> bool:
    """Whether the Hubs the tests start keep their blobs on S3 (``COVE_TEST_STORAGE=s3``)."""
    return os.environ.get("COVE_TEST_STORAGE", "").lower() == "s3"


def presigning() -> bool:
    return os.environ.get("COVE_TEST_S3_PRESIGN", "") == "1"

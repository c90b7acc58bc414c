"""Ceph's S3 gateway (radosgw) for the tests: a throwaway one-node Ceph cluster in a temp dir.

One monitor and one OSD on a free loopback port each, the OSD on ``memstore`` (objects in its memory:
nothing written to the disk but a little bookkeeping), ``cephx`` off (only this machine's loopback can
reach it, and nothing outside the temp dir is read or written), no manager (radosgw does not need one),
and radosgw's beast frontend on another free loopback port, with a user made by ``radosgw-admin user
create`` under the tests' access key. Unlike moto, radosgw checks every signature, presigned URLs
included (their expiry and their signed headers, ``Range`` among them), as AWS does.

Used when ``COVE_TEST_S3_SERVER=radosgw`` (``tests/s3.py``: ``shared_server``), which ``make
test-radosgw`` sets (``pytest -m radosgw``, tests/e2e/test_s3_suites.py). The packages are Debian's
``radosgw``, ``ceph-mon`` and ``ceph-osd`` (``scripts/test-setup-radosgw.sh``). Every daemon runs in the
foreground as a child of the test process and is stopped by its pid when the process exits. Start-up
takes about 15 s here (``python -m tests.radosgw`` prints the figures), most of it radosgw creating
its pools.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.s3 import ACCESS_KEY, SECRET_KEY, S3Api

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")

CONF = """\
[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
mon initial members = a
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = {root}/run
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
pid file = {root}/run/$name.pid
keyring = {root}/keyring
mon data = {root}/mon
osd data = {root}/osd
# the disk this runs on may be nearly full: the monitor would refuse to start
mon data avail crit = 0
mon data avail warn = 0
# one OSD: pools of one copy, few placement groups
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
# placed in the CRUSH map by the fixture: an OSD that does it as it starts may ask before it knows the
# cluster's fsid, and exits
osd crush update on start = false
osd class update on start = false
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd objectstore = memstore
# the capacity memstore reports (memory is taken as objects are written, not up front)
memstore device bytes = {capacity}
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {root}/rgw
"""


def missing() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def missing_reason() -> str:
    return (f"Ceph's radosgw is not installed ({', '.join(missing())} missing): "
            "apt-get install radosgw ceph-mon ceph-osd (scripts/test-setup-radosgw.sh)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway(S3Api):
    """A running one-node cluster and its gateway; :meth:`start` makes one, :meth:`stop` ends it."""

    def __init__(self, root: Path, capacity: int) -> None:
        self.root = root
        self.mon_port, self.rgw_port = _free_port(), _free_port()
        self.endpoint = f"http://127.0.0.1:{self.rgw_port}"
        self.conf = root / "ceph.conf"
        self.procs: list[subprocess.Popen] = []
        self.timings: dict[str, float] = {}
        for sub in ("mon", "osd", "run", "log", "rgw"):
            (root / sub).mkdir()
        self.conf.write_text(CONF.format(fsid=uuid.uuid4(), mon_port=self.mon_port, rgw_port=self.rgw_port,
                                         root=root, capacity=capacity))

    @classmethod
    def start(cls, capacity: int = 32 << 30, timeout: float = 120) -> Gateway:
        """A new cluster in a temp dir, serving S3 on 127.0.0.1; stopped when the process exits."""
        if missing():
            raise RuntimeError(missing_reason())
        gw = cls(Path(tempfile.mkdtemp(prefix="cove-rgw-")), capacity)
        atexit.register(gw.stop)
        try:
            gw._boot(timeout)
        except BaseException:
            gw.stop()
            raise
        return gw

    def _run(self, *args: str) -> str:
        proc = subprocess.run([args[0], "-c", str(self.conf), *args[1:]], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stdout}{proc.stderr}{self._logs()}")
        return proc.stdout

    def _daemon(self, *args: str) -> None:
        log = open(self.root / "log" / f"{args[0]}.out", "ab")  # noqa: SIM115 (the child holds it)
        self.procs.append(subprocess.Popen([args[0], "-f", "-c", str(self.conf), *args[1:]], stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()

    def _boot(self, timeout: float) -> None:
        t0 = time.monotonic()
        fsid = self.conf.read_text().split("fsid = ", 1)[1].split("\n", 1)[0]
        subprocess.run(["monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a",
                        f"[v1:127.0.0.1:{self.mon_port}]", str(self.root / "monmap")],
                       check=True, capture_output=True, timeout=60)
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(self.root / "monmap"))
        self._daemon("ceph-mon", "-i", "a")
        self._run("ceph", "osd", "create")  # id 0 (the monitor answers once it is up)
        self.timings["monitor"] = time.monotonic() - t0
        self._run("ceph-osd", "-i", "0", "--mkfs")
        self._run("ceph", "osd", "crush", "add", "osd.0", "1", "root=default", "host=localhost")
        self._daemon("ceph-osd", "-i", "0")
        self.timings["osd"] = time.monotonic() - t0 - self.timings["monitor"]
        self._daemon("radosgw", "-n", "client.rgw.a")
        deadline = t0 + timeout
        while True:
            self._check_alive()
            try:
                if httpx.get(self.endpoint, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"radosgw did not answer within {timeout:.0f} s{self._logs()}")
            time.sleep(0.25)
        self._run("radosgw-admin", "user", "create", "--uid=cove", "--display-name=cove tests",
                  f"--access-key={ACCESS_KEY}", f"--secret-key={SECRET_KEY}")
        self.timings["radosgw"] = time.monotonic() - t0 - self.timings["monitor"] - self.timings["osd"]
        self.timings["total"] = time.monotonic() - t0

    def _check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}{self._logs()}")

    def _logs(self) -> str:
        out = []
        for log in sorted((self.root / "log").glob("*")):
            lines = log.read_text(errors="replace").splitlines()[-15:]
            out.append(f"\n--- {log.name}\n" + "\n".join(lines))
        return "".join(out)

    def stop(self) -> None:
        for proc in reversed(self.procs):  # gateway, OSD, monitor
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs = []
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":  # the start-up figures: python -m tests.radosgw
    started = time.monotonic()
    gw = Gateway.start()
    try:
        bucket = gw.create_bucket("probe")
        gw.client().put_object(Bucket=bucket, Key="k", Body=b"x")
        first_bucket = time.monotonic() - started - gw.timings["total"]
        print(" ".join(f"{k} {v:.1f}s" for k, v in gw.timings.items()), f"first bucket+object {first_bucket:.1f}s")
    finally:
        gw.stop()

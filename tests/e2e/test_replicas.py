"""Two ``cove serve`` replicas on one PostgreSQL database and one shared data dir, behind Debian's nginx
(tests/replicas.py), driven by the stock clients: ``huggingface_hub`` with ``hf_xet`` (its default), git.

What must hold across replicas: a write on one is read at once on the other (no stale cache), concurrent
writers to one branch on both lose nothing and every stale ``parent_commit`` is a 412, sign-in limits,
web sessions and the first start (migrations, secret, admin) are shared, inference runs only where
``COVE_ROLES`` puts it, and a replica killed mid-upload leaves nothing partial while the other serves.

The heavy part (2x20 commits each way, the killed replica) is marked ``replicas_full`` and deselected by
default (``make test-replicas`` runs it); the same tests at 2x5 commits run in ``make test``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from tests import postgres, s3
from tests.conftest import STORAGES, start_server, stop_server, stored_blobs
from tests.e2e.test_web import page_csrf
from tests.e2e.test_xet import client, random_file, sha256_of
from tests.replicas import Replicas, nginx_binary

pytest.importorskip("hf_xet")
pytestmark = pytest.mark.slow
MiB = 1024 * 1024
CAROL_PW = "carol-pass-123"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed: apt-get install nginx (scripts/test-setup.sh)")
    if postgres.binaries() is None:
        pytest.skip(postgres.missing_reason())
    env = {"COVE_DATABASE_URL": postgres.shared_cluster().create_database("replicas"),
           "COVE_LOGIN_FAILURES_PER_USER": "4", "COVE_LOGIN_FAILURES_PER_IP": "100000",
           "COVE_MULTIPART_PART_SIZE": str(5 * MiB)}  # S3's least part size: multipart transfers are cheap
    replicas = Replicas.start(tmp_path_factory.mktemp("replicas"), 2, env)
    yield replicas
    replicas.stop()


@pytest.fixture(scope="module")
def alice(cluster) -> str:
    return cluster.hub.user("alice")


def new_repo(cluster, token: str, stem: str) -> tuple[HfApi, str]:
    api = HfApi(endpoint=cluster.url, token=token)
    name = f"alice/{stem}-{uuid.uuid4().hex[:6]}"
    api.create_repo(name)
    return api, name


def each_replica(cluster, token: str) -> list[HfApi]:
    return [HfApi(endpoint=s.url, token=token) for s in cluster.servers]


def test_first_start_was_shared(cluster):
    """Both replicas started at once on an empty data dir and database: one schema, one secret, one admin."""
    assert len(list(cluster.data_dir.glob(".secret-*"))) == 0
    made = [s for s in cluster.servers if "Created the admin account" in s.log.read_text()]
    assert len(made) == 1
    for replica in cluster.servers:  # conftest's COVE_ADMIN_PASSWORD
        r = httpx.get(f"{replica.url}/api/whoami-v2", auth=httpx.BasicAuth("admin", "admin-pass-123"))
        assert r.status_code == 200 and r.json()["name"] == "admin"


def test_hf_client_with_xet_through_nginx(cluster, alice, tmp_path):
    api, repo = new_repo(cluster, alice, "xet")
    big = random_file(tmp_path / "big.bin", 12 * MiB, seed=1)
    client(cluster.hub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(big)!r}, path_in_repo="big.bin", repo_id={repo!r})
        HfApi().upload_file(path_or_fileobj=b"small", path_in_repo="small.txt", repo_id={repo!r})
    """, tmp_path / "up")
    entry = api.get_paths_info(repo, ["big.bin"])[0]
    assert entry.xet_hash and entry.lfs.sha256 == sha256_of(big)
    out = client(cluster.hub, alice, f"""
        from huggingface_hub import hf_hub_download
        print(hf_hub_download({repo!r}, "big.bin"))
        print(hf_hub_download({repo!r}, "small.txt"))
    """, tmp_path / "down")
    big_path, small_path = out.split()
    assert sha256_of(Path(big_path)) == sha256_of(big) and Path(small_path).read_bytes() == b"small"
    for replica in cluster.servers:  # each replica serves both, whichever stored them
        head = httpx.head(f"{replica.url}/{repo}/resolve/main/big.bin", headers={"authorization": f"Bearer {alice}"})
        assert head.headers["x-xet-hash"] == entry.xet_hash
        got = httpx.get(f"{replica.url}/{repo}/resolve/main/small.txt", follow_redirects=True)
        assert got.content == b"small"


def test_git_clone_and_push_through_nginx(cluster, alice, tmp_path):
    api, repo = new_repo(cluster, alice, "git")
    url = cluster.url.replace("http://", f"http://alice:{alice}@") + f"/{repo}"
    git = ["git", "-c", "user.name=alice", "-c", "user.email=a@example.com"]
    work = tmp_path / "clone"
    subprocess.run([*git, "clone", url, str(work)], check=True, capture_output=True)
    for i in range(3):  # each push may land on either replica; each must see the other's
        (work / f"pushed-{i}.txt").write_text(f"push {i}")
        subprocess.run([*git, "add", "-A"], cwd=work, check=True)
        subprocess.run([*git, "commit", "-qm", f"push {i}"], cwd=work, check=True)
        subprocess.run([*git, "push", "-q", "origin", "main"], cwd=work, check=True, capture_output=True)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
        for replica in each_replica(cluster, alice):
            assert replica.model_info(repo).sha == head
            assert f"pushed-{i}.txt" in replica.list_repo_files(repo)


def test_a_write_on_one_replica_is_read_at_once_on_the_other(cluster, alice):
    """Open-repo handles and listing caches never serve a replica's old view of a repo."""
    _, repo = new_repo(cluster, alice, "coherent")
    one, two = each_replica(cluster, alice)
    for i in range(6):
        writer, reader = (one, two) if i % 2 else (two, one)
        info = writer.create_commit(repo, [CommitOperationAdd(f"f{i}.txt", str(i).encode())], commit_message=f"c{i}")
        assert reader.model_info(repo).sha == info.oid
        assert f"f{i}.txt" in reader.list_repo_files(repo)
        assert reader.list_repo_commits(repo)[0].commit_id == info.oid
    one.create_branch(repo, branch="dev")
    assert "dev" in [b.name for b in two.list_repo_refs(repo).branches]
    one.delete_file("f0.txt", repo)
    assert "f0.txt" not in two.list_repo_files(repo)


def concurrent_writers(cluster, token: str, per_replica: int, *, with_parent: bool) -> None:
    """``per_replica`` commits from a thread on each replica to one branch. Without ``parent_commit`` all
    land; with it, each commit lands or is a 412 (its parent moved), and history holds exactly those."""
    api, repo = new_repo(cluster, token, "race")
    landed: list[str] = []
    refused: list[int] = []
    errors: list[BaseException] = []

    def writer(n: int, replica: HfApi) -> None:
        for i in range(per_replica):
            try:
                parent = replica.model_info(repo).sha if with_parent else None
                info = replica.create_commit(repo, [CommitOperationAdd(f"w{n}/{i}.txt", f"{n}-{i}".encode())],
                                             commit_message=f"w{n} {i}", parent_commit=parent)
                landed.append(f"w{n}/{i}.txt")
                assert info.oid
            except HfHubHTTPError as err:
                if with_parent and err.response.status_code == 412:
                    refused.append(412)
                else:
                    errors.append(err)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

    threads = [threading.Thread(target=writer, args=(n, r)) for n, r in enumerate(each_replica(cluster, token))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(landed) + len(refused) == 2 * per_replica
    if not with_parent:
        assert len(landed) == 2 * per_replica
    files = set(api.list_repo_files(repo))
    assert files == {".gitattributes", *landed}
    assert len(api.list_repo_commits(repo)) == 1 + len(landed)  # one line of commits, none lost


@pytest.mark.parametrize("with_parent", [False, True], ids=["no-parent", "parent-commit"])
def test_concurrent_writers_on_both_replicas(cluster, alice, with_parent):
    concurrent_writers(cluster, alice, 5, with_parent=with_parent)


@pytest.mark.replicas_full
@pytest.mark.parametrize("with_parent", [False, True], ids=["no-parent", "parent-commit"])
def test_concurrent_writers_on_both_replicas_2x20(cluster, alice, with_parent):
    concurrent_writers(cluster, alice, 20, with_parent=with_parent)


def test_signin_limits_hold_across_replicas(cluster):
    cluster.hub.user("carol", password=CAROL_PW)
    bad = httpx.BasicAuth("carol", "wrong")
    codes = [httpx.get(f"{cluster.servers[i % 2].url}/api/whoami-v2", auth=bad).status_code for i in range(4)]
    assert codes == [401] * 4
    for replica in cluster.servers:  # the fifth attempt is refused on either, the right password too
        r = httpx.get(f"{replica.url}/api/whoami-v2", auth=httpx.BasicAuth("carol", CAROL_PW))
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_a_web_session_works_on_every_replica(cluster):
    cluster.hub.user("dora", password="dora-pass-123")
    one, two = (httpx.Client(base_url=s.url, timeout=30) for s in cluster.servers)
    form = one.get("/login")
    csrf = one.cookies["cove_login_csrf"]
    assert form.status_code == 200
    r = one.post("/login", data={"csrf": csrf, "username": "dora", "password": "dora-pass-123", "next": "/"})
    assert r.status_code == 303, r.text
    two.cookies.update(one.cookies)
    assert two.get("/settings/tokens").status_code == 200
    made = two.post("/settings/tokens", data={"csrf": page_csrf(two), "name": "t", "role": "read"})
    assert made.status_code in (200, 303)


def test_inference_runs_only_where_the_roles_put_it(cluster, alice, tmp_path):
    env = {**cluster.env, "COVE_ROLES": "web"}
    web_only = start_server(cluster.data_dir, env=env, log=tmp_path / "web-only.log")
    try:
        r = httpx.post(f"{web_only.url}/api/inference/alice/anything", json={"inputs": "hi"},
                       headers={"authorization": f"Bearer {alice}"})
        assert (r.status_code, r.headers["x-error-code"]) == (503, "ServiceUnavailable")
        assert httpx.get(f"{web_only.url}/api/models", params={"author": "alice"}).status_code == 200
    finally:
        stop_server(web_only)


def _staged(cluster, oid: str) -> tuple[list[str], list[str]]:
    """Where a multipart upload of ``oid`` is staged: ``(files in the data dir's upload temporaries,
    the bucket's open multipart uploads and staged objects on S3)``."""
    files = [p.name for p in (cluster.data_dir / "lfs" / "tmp").iterdir() if oid in p.name]
    env = STORAGES.get(cluster.data_dir.resolve())
    if env is None:
        return files, []
    server = s3.shared_server()
    bucket, prefix = env["COVE_STORAGE_URL"].removeprefix("s3://").split("/", 1)
    return files, ([k for k in server.uploads(bucket) if oid in k]
                   + [k for k in server.sizes(bucket, f"{prefix}/lfs-staging/") if oid in k])


def test_multipart_parts_on_both_replicas(cluster, alice):
    """The parts of one LFS multipart transfer go to both replicas in turn and either completes it: they
    are staged where both reach them (a file in the shared data dir, or on S3 the store's own multipart
    upload), and the completing replica checks the whole object's sha256 and size."""
    _, repo = new_repo(cluster, alice, "parts")
    auth = {"authorization": f"Bearer {alice}"}
    replicas = [s.url for s in cluster.servers]

    def start(data: bytes) -> tuple[str, list[str]]:
        r = httpx.post(f"{cluster.url}/{repo}.git/info/lfs/objects/batch", headers=auth, json={
            "operation": "upload", "transfers": ["basic", "multipart"],
            "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}]})
        assert r.status_code == 200 and r.json()["transfer"] == "multipart", r.text
        upload = r.json()["objects"][0]["actions"]["upload"]
        header = upload["header"]
        parts = [header[str(i)] for i in range(1, len(header))]  # "chunk_size" and the parts
        assert int(header["chunk_size"]) == 5 * MiB and len(parts) == -(-len(data) // (5 * MiB))
        return upload["href"], parts

    def on(replica: str, url: str) -> str:  # the same signed URL, sent to one replica past nginx
        return replica + url.removeprefix(cluster.url)

    def send(parts: list[str], data: bytes) -> None:
        for i, url in enumerate(parts):
            r = httpx.put(on(replicas[i % 2], url), content=data[i * 5 * MiB:(i + 1) * 5 * MiB], timeout=60)
            assert r.status_code == 200 and r.headers["etag"], r.text

    for completer in (0, 1):
        data = os.urandom(16 * MiB + 1000 * completer + 1)  # four parts, the last short
        oid = hashlib.sha256(data).hexdigest()
        complete, parts = start(data)
        listing = {"oid": oid, "parts": [{"partNumber": i + 1, "etag": "x"} for i in range(len(parts))]}
        send(parts[:-1], data)
        files, in_bucket = _staged(cluster, oid)
        if cluster.data_dir.resolve() in STORAGES:  # on S3: the store's own multipart upload, not the Hub's disk
            assert files == [] and in_bucket
        else:  # a file in the shared data dir
            assert files and not in_bucket
        r = httpx.post(on(replicas[completer], complete), json=listing)
        assert r.status_code == 400 and "never received" in r.text
        send(parts, data)
        assert httpx.post(on(replicas[completer], complete), json=listing, timeout=120).status_code == 200
        lines = ('{"key": "header", "value": {"summary": "parts"}}\n'
                 f'{{"key": "lfsFile", "value": {{"path": "p{completer}.bin", "algo": "sha256", "oid": "{oid}", '
                 f'"size": {len(data)}}}}}\n')
        r = httpx.post(f"{replicas[1 - completer]}/api/models/{repo}/commit/main", content=lines.encode(),
                       headers={**auth, "content-type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        for replica in replicas:
            got = httpx.get(f"{replica}/{repo}/resolve/main/p{completer}.bin", headers=auth,
                            follow_redirects=True, timeout=60)
            assert hashlib.sha256(got.content).hexdigest() == oid
        assert _staged(cluster, oid) == ([], [])

    # a part changed on its way to the other replica: the completion is refused and nothing is kept
    data = os.urandom(11 * MiB)
    oid = hashlib.sha256(data).hexdigest()
    complete, parts = start(data)
    send(parts, data[:MiB] + bytes([data[MiB] ^ 1]) + data[MiB + 1:])
    r = httpx.post(on(replicas[1], complete), timeout=120,
                   json={"oid": oid, "parts": [{"partNumber": i + 1, "etag": "x"} for i in range(len(parts))]})
    assert r.status_code == 422 and "does not match" in r.text
    assert oid not in stored_blobs(cluster.hub, "lfs") and _staged(cluster, oid) == ([], [])


@pytest.mark.replicas_full
def test_a_replica_killed_mid_upload(cluster, alice, tmp_path):
    """SIGKILL the replica that is receiving an LFS upload: the other keeps serving, nothing partial is
    visible (no object, no file), and the client's retry through nginx completes on the survivor."""
    api, repo = new_repo(cluster, alice, "killed")
    victim, survivor = cluster.servers
    data = os.urandom(24 * MiB)
    oid = hashlib.sha256(data).hexdigest()
    auth = {"authorization": f"Bearer {alice}"}
    batch = httpx.post(f"{victim.url}/{repo}.git/info/lfs/objects/batch", headers=auth,
                       json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]})
    href = batch.json()["objects"][0]["actions"]["upload"]["href"]
    sent = threading.Event()

    def slow_body():
        for i in range(0, len(data), MiB):
            yield data[i:i + MiB]
            if i >= 8 * MiB:
                sent.set()
                time.sleep(0.2)

    def upload() -> None:
        try:
            httpx.put(href, content=slow_body(), timeout=60)
        except httpx.HTTPError:
            pass  # the replica dies under it

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert sent.wait(60)
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(10)
    uploader.join(60)

    survivor_api = HfApi(endpoint=survivor.url, token=alice)
    assert survivor_api.list_repo_files(repo) == [".gitattributes"]
    again = httpx.post(f"{survivor.url}/{repo}.git/info/lfs/objects/batch", headers=auth,
                       json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]})
    assert "upload" in again.json()["objects"][0].get("actions", {}), "a partial upload counts as stored"
    for _ in range(3):  # nginx marks the dead replica failed and sends everything to the survivor
        assert api.model_info(repo).sha == survivor_api.model_info(repo).sha

    path = tmp_path / "w.bin"
    path.write_bytes(data)
    client(cluster.hub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(path)!r}, path_in_repo="w.bin", repo_id={repo!r})
    """, tmp_path / "retry")
    got = httpx.get(f"{cluster.url}/{repo}/resolve/main/w.bin", follow_redirects=True, timeout=60)
    assert hashlib.sha256(got.content).hexdigest() == oid


def test_two_replicas_on_sqlite_on_one_machine(tmp_path):
    """Replicas on one machine may share a SQLite database too (file locks, WAL): they start together on
    an empty data dir, and both serve writes."""
    if nginx_binary() is None:
        pytest.skip("nginx is not installed: apt-get install nginx (scripts/test-setup.sh)")
    replicas = Replicas.start(tmp_path, 2, {"COVE_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'cove.db'}"})
    try:
        token = replicas.hub.user("sam")
        api = HfApi(endpoint=replicas.url, token=token)
        api.create_repo("sam/lite")
        for n, replica in enumerate(each_replica(replicas, token)):
            replica.create_commit("sam/lite", [CommitOperationAdd(f"{n}.txt", b"x")], commit_message=f"{n}")
        assert sorted(api.list_repo_files("sam/lite")) == [".gitattributes", "0.txt", "1.txt"]
    finally:
        replicas.stop()

"""Storage buckets with the stock huggingface_hub client and hf_xet, against `cove serve`.

Every step that moves bytes through Xet runs in its own process with its own HF_HOME (hf_xet's shard
cache there would hide missing server features); metadata calls run in the test. The Hub pages its
listings by 4 (``COVE_PAGE_SIZE``), so every listing here follows ``Link`` pages. What is proved:

* create / info / list / settings / move / delete, with the Hub's answers (409 with the url, 401 to
  an anonymous caller, BucketNotFoundError);
* a folder synced up and down (``sync_bucket``, ``--delete``, nothing to do the second time),
  ``download_bucket_files``, byte for byte; ``batch_bucket_files`` add, delete and server-side copy
  from a repo and from another bucket;
* ``HfFileSystem`` on ``hf://buckets/...``: listing, find, info, reads (ranged GETs reconstructed
  by the server, and Xet downloads), writes, copies and removals; the ``hf buckets`` CLI;
* private buckets answer outsiders exactly as missing ones (and are left out of their listings);
  read-only tokens and readers are refused every write; a batch may not name a file ID another
  bucket or a repo uploaded, nor copy from a source the caller may not read; a bucket's Xet token
  reconstructs only its own files;
* ``cove gc`` keeps what buckets hold and collects what a deleted bucket held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BucketBatchError, BucketNotFoundError, HfHubHTTPError

from tests.conftest import start_server, stop_server
from tests.e2e.test_xet import Requests, client, random_file, sha256_of, xorbs

pytest.importorskip("hf_xet")
pytestmark = pytest.mark.slow
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def bhub(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("buckets") / "data", args=("--log-level", "info"),
                          env={"COVE_PAGE_SIZE": "4"})
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def alice(bhub) -> str:
    return bhub.user("alice")


@pytest.fixture(scope="module")
def bob(bhub) -> str:
    return bhub.user("bob")


def upload(server, token: str, bucket: str, files: dict[str, bytes], home: Path) -> None:
    """``batch_bucket_files(add=...)`` of local files from a new process (bytes go through Xet)."""
    staged = home.parent / f"staged-{len(list(home.parent.glob('staged-*')))}"
    adds = []
    for n, (path, data) in enumerate(files.items()):
        local = staged / str(n)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        adds.append((str(local), path))
    client(server, token, f"""
        from huggingface_hub import HfApi
        HfApi().batch_bucket_files({bucket!r}, add={adds!r})
    """, home)


def tree(api: HfApi, bucket: str, **kw) -> dict[str, object]:
    return {e.path: e for e in api.list_bucket_tree(bucket, **kw)}


def batch(server, token: str, bucket: str, *ops: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/api/buckets/{bucket}/batch", headers={"authorization": f"Bearer {token}"},
                      content=b"".join(json.dumps(op).encode() + b"\n" for op in ops))


def seen(r: httpx.Response, hidden: str, missing: str) -> tuple:
    h = r.headers
    return (r.status_code, h.get("x-error-code"), h.get("x-error-message"), h.get("www-authenticate"),
            r.text.replace(hidden, missing))


# -- buckets ---------------------------------------------------------------------------------------


def test_create_info_list_settings_move_delete(bhub, alice, bob):
    api, other, anon = (HfApi(endpoint=bhub.url, token=t) for t in (alice, bob, False))
    url = api.create_bucket("alice/life")
    assert url.bucket_id == "alice/life" and url.url == f"{bhub.url}/buckets/alice/life"
    with pytest.raises(HfHubHTTPError) as e:
        api.create_bucket("alice/life")
    assert e.value.response.status_code == 409
    assert api.create_bucket("alice/life", exist_ok=True) == url
    assert api.create_bucket("implicit").bucket_id == "alice/implicit"  # the caller's namespace
    for n in range(5):  # more than a page
        api.create_bucket(f"alice/many-{n}", private=n % 2 == 1)

    info = api.bucket_info("alice/life")
    assert (info.id, info.private, info.size, info.total_files) == ("alice/life", False, 0, 0)
    assert api.bucket_info("alice/LIFE").id == "alice/life"  # ids are case-insensitive
    with pytest.raises(HfHubHTTPError) as e:
        api.bucket_info("life")
    assert e.value.response.status_code == 404

    api.update_bucket_settings("alice/life", private=True)
    assert api.bucket_info("alice/life").private
    with pytest.raises(BucketNotFoundError):
        other.bucket_info("alice/life")
    with pytest.raises(BucketNotFoundError) as e:
        anon.bucket_info("alice/life")
    assert e.value.response.status_code == 401  # as the Hub answers anonymous callers

    mine = {b.id for b in api.list_buckets()}
    assert {"alice/life", "alice/implicit", *(f"alice/many-{n}" for n in range(5))} <= mine
    public = {"alice/implicit", "alice/many-0", "alice/many-2", "alice/many-4"}
    assert {b.id for b in other.list_buckets(namespace="alice")} == public
    assert {b.id for b in anon.list_buckets(namespace="alice")} == public
    assert {b.id for b in other.list_buckets()} == set()  # bob's own
    assert {b.id for b in api.list_buckets(search="MANY")} == {f"alice/many-{n}" for n in range(5)}

    api.move_bucket("alice/life", "alice/moved")
    assert api.bucket_info("alice/moved").private
    with pytest.raises(BucketNotFoundError):
        api.bucket_info("alice/life")
    with pytest.raises(HfHubHTTPError) as e:
        api.move_bucket("alice/moved", "alice/many-0")
    assert e.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError) as e:
        other.move_bucket("alice/many-0", "bob/stolen")
    assert e.value.response.status_code == 403

    api.delete_bucket("alice/moved")
    with pytest.raises(BucketNotFoundError):
        api.bucket_info("alice/moved")
    with pytest.raises(BucketNotFoundError):
        api.delete_bucket("alice/moved")
    api.delete_bucket("alice/moved", missing_ok=True)


# -- files -----------------------------------------------------------------------------------------


def test_folder_sync_both_ways_and_download(bhub, alice, tmp_path):
    api = HfApi(endpoint=bhub.url, token=alice)
    api.create_bucket("alice/data")
    local = tmp_path / "local"
    (local / "sub" / "deep").mkdir(parents=True)
    (local / "a.txt").write_text("hello")
    random_file(local / "sub" / "big.bin", 3 * MiB, seed=1)
    (local / "sub" / "deep" / "c.json").write_text('{"x": 1}')
    (local / "empty.txt").write_bytes(b"")
    for n in range(6):
        (local / f"n{n}.txt").write_text(f"number {n}")
    log = Requests(bhub)
    client(bhub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().sync_bucket({str(local)!r}, "hf://buckets/alice/data")
    """, tmp_path / "home-up")
    assert log.count("POST", "/cas/v1/xorbs/") >= 1 and log.count("POST", "/cas/v1/shards", 200) >= 1
    assert log.count("POST", "/api/buckets/alice/data/batch", 200) == 1
    assert log.count("POST", "/alice/data.git/info/lfs") == 0

    files = tree(api, "alice/data", recursive=True)
    expected = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file()}
    assert set(files) == set(expected)
    for path, p in expected.items():
        assert files[path].size == p.stat().st_size
        assert abs(files[path].mtime.timestamp() - p.stat().st_mtime) < 0.002  # milliseconds, as sent
    top = tree(api, "alice/data", recursive=False)
    assert {k for k, v in top.items() if v.type == "directory"} == {"sub"}
    assert set(tree(api, "alice/data", prefix="sub", recursive=False)) == {"sub/big.bin", "sub/deep"}
    assert set(tree(api, "alice/data", prefix="sub")) == {"sub/big.bin", "sub/deep/c.json"}  # recursive by default
    assert set(tree(api, "alice/data", prefix="sub/big.bin")) == {"sub/big.bin"}  # a file lists itself
    assert api.bucket_info("alice/data").total_files == len(expected)

    down = tmp_path / "down"
    client(bhub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().sync_bucket("hf://buckets/alice/data", {str(down)!r})
    """, tmp_path / "home-down")
    for path, p in expected.items():
        assert (down / path).read_bytes() == p.read_bytes(), path

    # change, remove and add locally, then sync with delete: the bucket follows; then nothing to do
    (local / "a.txt").write_text("hello again")
    os.utime(local / "a.txt", (os.path.getmtime(local / "a.txt") + 10,) * 2)
    (local / "n0.txt").unlink()
    (local / "new.txt").write_text("new")
    out = client(bhub, alice, f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.sync_bucket({str(local)!r}, "hf://buckets/alice/data", delete=True)
        print(api.sync_bucket({str(local)!r}, "hf://buckets/alice/data", delete=True).summary())
    """, tmp_path / "home-up")
    assert "'uploads': 0, 'downloads': 0, 'deletes': 0" in out
    files = tree(api, "alice/data", recursive=True)
    assert "n0.txt" not in files and "new.txt" in files and files["a.txt"].size == len("hello again")

    # download_bucket_files (a missing path is skipped with a warning)
    got = tmp_path / "got"
    client(bhub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().download_bucket_files("alice/data", [("sub/big.bin", {str(got / "big.bin")!r}),
                                                     ("nope.txt", {str(got / "nope.txt")!r}),
                                                     ("a.txt", {str(got / "a.txt")!r})])
    """, tmp_path / "home-get")
    assert sha256_of(got / "big.bin") == sha256_of(local / "sub" / "big.bin")
    assert (got / "a.txt").read_text() == "hello again" and not (got / "nope.txt").exists()


def test_batch_add_delete_and_copy_from_a_repo_and_a_bucket(bhub, alice, tmp_path):
    api = HfApi(endpoint=bhub.url, token=alice)
    api.create_repo("alice/weights")
    weights = random_file(tmp_path / "w.bin", 2 * MiB, seed=2).read_bytes()
    client(bhub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(tmp_path / "w.bin")!r}, path_in_repo="w.bin", repo_id="alice/weights")
    """, tmp_path / "home-repo")
    assert api.get_paths_info("alice/weights", ["w.bin"])[0].xet_hash  # uploaded through Xet

    api.create_bucket("alice/src")
    api.create_bucket("alice/dst")
    upload(bhub, alice, "alice/src", {"logs/a.txt": b"a", "logs/sub/b.txt": b"b", "other.txt": b"o"},
           tmp_path / "home-src")
    log = Requests(bhub)
    api.copy_files("hf://alice/weights/w.bin", "hf://buckets/alice/dst/models/w.bin")  # repo -> bucket
    api.copy_files("hf://buckets/alice/src/logs", "hf://buckets/alice/dst/backup/")  # bucket -> bucket
    assert log.count("POST", "/cas/") == 0  # server-side copies: no bytes moved
    files = tree(api, "alice/dst", recursive=True)
    assert set(files) == {"models/w.bin", "backup/a.txt", "backup/sub/b.txt"}
    h = {"authorization": f"Bearer {alice}"}
    assert httpx.get(f"{bhub.url}/buckets/alice/dst/resolve/models/w.bin", headers=h).content == weights
    assert httpx.get(f"{bhub.url}/buckets/alice/dst/resolve/backup/sub/b.txt", headers=h).content == b"b"

    api.batch_bucket_files("alice/dst", delete=["backup/a.txt", "not-there.txt"])
    assert set(tree(api, "alice/dst", recursive=True)) == {"models/w.bin", "backup/sub/b.txt"}
    # a path where a folder is, or below a file, is refused; the other operations apply
    file_id = files["backup/a.txt"].xet_hash
    r = batch(bhub, alice, "alice/dst",
              {"type": "copyFile", "path": "models", "xetHash": file_id, "sourceRepoType": "bucket",
               "sourceRepoId": "alice/src"},
              {"type": "copyFile", "path": "models/w.bin/x", "xetHash": file_id, "sourceRepoType": "bucket",
               "sourceRepoId": "alice/src"},
              {"type": "copyFile", "path": "fine.txt", "xetHash": file_id, "sourceRepoType": "bucket",
               "sourceRepoId": "alice/src", "mtime": 1_700_000_000_123})
    assert r.status_code == 200 and [f["path"] for f in r.json()["failed"]] == ["models", "models/w.bin/x"]
    fine = tree(api, "alice/dst")["fine.txt"]
    assert fine.mtime.timestamp() == 1_700_000_000.123 and fine.size == 1
    with pytest.raises(BucketBatchError) as e:  # all failed: 422
        api.batch_bucket_files("alice/dst", copy=[("bucket", "alice/src", "0" * 64, "bogus.txt")])
    assert e.value.response.status_code == 422


# -- HfFileSystem and the CLI ----------------------------------------------------------------------


def test_hf_file_system_on_buckets(bhub, alice, tmp_path):
    api = HfApi(endpoint=bhub.url, token=alice)
    api.create_bucket("alice/fs")
    data = random_file(tmp_path / "r.bin", 1 * MiB + 123, seed=3).read_bytes()
    upload(bhub, alice, "alice/fs", {"data/r.bin": data, "data/t.txt": b"dummy text data", "README.md": b"# hi"},
           tmp_path / "home-up")
    out = client(bhub, alice, f"""
        from huggingface_hub import HfFileSystem
        fs = HfFileSystem()
        root = "hf://buckets/alice/fs"
        assert sorted(fs.ls(root, detail=False)) == ["buckets/alice/fs/README.md", "buckets/alice/fs/data"]
        assert fs.find(root) == ["buckets/alice/fs/README.md", "buckets/alice/fs/data/r.bin",
                                 "buckets/alice/fs/data/t.txt"]
        assert fs.glob(root + "/data/*.txt") == ["buckets/alice/fs/data/t.txt"]
        assert fs.isdir(root + "/data") and fs.isfile(root + "/data/r.bin") and not fs.exists(root + "/dat")
        info = fs.info(root + "/data/r.bin")
        assert info["size"] == {len(data)} and info["xet_hash"] and info["mtime"] and info["uploaded_at"]
        with fs.open(root + "/data/r.bin", "rb") as f:  # ranged GETs, reconstructed by the server
            f.seek(1000); a = f.read(5000); f.seek({len(data)} - 10); b = f.read()
        print(a.hex()); print(b.hex())
        fs.get_file(root + "/data/r.bin", {str(tmp_path / "got.bin")!r})  # through Xet
        assert fs.cat(root + "/data/t.txt") == b"dummy text data"
        with fs.open(root + "/data/new.txt", "w") as f:
            f.write("written")
        fs.cp_file(root + "/data/t.txt", root + "/copy/t.txt")
        fs.mv(root + "/copy/t.txt", root + "/moved.txt")
        fs.rm(root + "/data/r.bin")
        print(sorted(fs.find(root, refresh=True)))
    """, tmp_path / "home-fs")
    a, b, listing = out.splitlines()[-3:]
    assert bytes.fromhex(a) == data[1000:6000] and bytes.fromhex(b) == data[-10:]
    assert (tmp_path / "got.bin").read_bytes() == data
    assert eval(listing) == ["buckets/alice/fs/README.md", "buckets/alice/fs/data/new.txt",  # noqa: S307
                             "buckets/alice/fs/data/t.txt", "buckets/alice/fs/moved.txt"]
    h = {"authorization": f"Bearer {alice}"}
    assert httpx.get(f"{bhub.url}/buckets/alice/fs/resolve/moved.txt", headers=h).content == b"dummy text data"


def hf_cli(server, token: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_DISABLE_PROGRESS_BARS="1")
    return subprocess.run([str(Path(sys.executable).parent / "hf"), "buckets", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_hf_buckets_cli(bhub, alice, tmp_path):
    home = tmp_path / "home"
    r = hf_cli(bhub, alice, home, "create", "cli-bucket", "--private", "--quiet")
    assert r.returncode == 0 and r.stdout.strip() == "hf://buckets/alice/cli-bucket", r.stderr
    local = tmp_path / "local"
    (local / "logs").mkdir(parents=True)
    (local / "keep.txt").write_text("keep")
    (local / "logs" / "a.log").write_text("a")
    (local / "logs" / "b.log").write_text("b")
    r = hf_cli(bhub, alice, home, "sync", str(local), "hf://buckets/alice/cli-bucket")
    assert r.returncode == 0, r.stderr
    r = hf_cli(bhub, alice, home, "list", "alice/cli-bucket", "-R", "--quiet")
    assert r.stdout.split() == ["keep.txt", "logs/a.log", "logs/b.log"], r.stderr
    r = hf_cli(bhub, alice, home, "info", "alice/cli-bucket")
    assert json.loads(r.stdout)["private"] is True and json.loads(r.stdout)["total_files"] == 3
    r = hf_cli(bhub, alice, home, "rm", "alice/cli-bucket/logs", "--recursive", "--yes")
    assert r.returncode == 0 and "2 file(s)" in r.stdout, r.stdout + r.stderr
    r = hf_cli(bhub, alice, home, "list", "--quiet")
    assert "alice/cli-bucket" in r.stdout.split()
    r = hf_cli(bhub, alice, home, "delete", "alice/cli-bucket", "--yes")
    assert r.returncode == 0, r.stderr
    assert hf_cli(bhub, alice, home, "info", "alice/cli-bucket").returncode != 0


# -- who may do what -------------------------------------------------------------------------------


def test_private_buckets_are_missing_buckets_to_outsiders(bhub, alice, bob, tmp_path):
    api = HfApi(endpoint=bhub.url, token=alice)
    api.create_bucket("alice/hidden", private=True)
    upload(bhub, alice, "alice/hidden", {"secret.txt": b"secret"}, tmp_path / "home")
    routes = [("GET", ""), ("GET", "/tree"), ("GET", "/tree/secret.txt"), ("GET", "/xet-read-token"),
              ("GET", "/xet-write-token"), ("PUT", "/settings"), ("DELETE", ""), ("POST", "/paths-info"),
              ("POST", "/batch")]
    for who in ({"authorization": f"Bearer {bob}"}, {}):
        for method, tail in routes:
            body = {"paths": ["secret.txt"]} if tail == "/paths-info" else {"private": False}
            answers = [httpx.request(method, f"{bhub.url}/api/buckets/alice/{name}{tail}", headers=who,
                                     json=body if method in ("POST", "PUT") and tail != "/batch" else None,
                                     content=b'{"type":"deleteFile","path":"secret.txt"}\n' if tail == "/batch"
                                     else None)
                       for name in ("hidden", "absent")]
            assert seen(answers[0], "hidden", "absent") == seen(answers[1], "absent", "absent"), (method, tail)
            assert answers[0].status_code == (401 if not who else 404)
        for name in ("hidden", "absent"):
            for method in ("GET", "HEAD"):
                r = httpx.request(method, f"{bhub.url}/buckets/alice/{name}/resolve/secret.txt", headers=who)
                assert r.status_code == (401 if not who else 404) and r.headers["x-error-code"] == "RepoNotFound"
        listing = httpx.get(f"{bhub.url}/api/buckets/alice", headers=who)
        assert listing.status_code == 200 and "hidden" not in listing.text
    assert [f.path for f in api.list_bucket_tree("alice/hidden")] == ["secret.txt"]  # unchanged


def test_read_only_tokens_and_readers_cannot_write(bhub, alice, bob, tmp_path):
    api = HfApi(endpoint=bhub.url, token=alice)
    api.create_bucket("alice/shared")
    upload(bhub, alice, "alice/shared", {"f.txt": b"f"}, tmp_path / "home")
    read_only = bhub.token("alice", read_only=True)
    for token in (read_only, bob):
        h = {"authorization": f"Bearer {token}"}
        ro = HfApi(endpoint=bhub.url, token=token)
        assert ro.bucket_info("alice/shared").total_files == 1  # reading is fine
        assert httpx.get(f"{bhub.url}/api/buckets/alice/shared/xet-read-token", headers=h).status_code == 200
        assert httpx.get(f"{bhub.url}/api/buckets/alice/shared/xet-write-token", headers=h).status_code == 403
        assert batch(bhub, token, "alice/shared", {"type": "deleteFile", "path": "f.txt"}).status_code == 403
        for method, args in (("update_bucket_settings", ("alice/shared",)), ("delete_bucket", ("alice/shared",)),
                             ("move_bucket", ("alice/shared", "alice/elsewhere")),
                             ("create_bucket", ("alice/new-one",))):
            kwargs = {"private": True} if method == "update_bucket_settings" else {}
            with pytest.raises(HfHubHTTPError) as e:
                getattr(ro, method)(*args, **kwargs)
            assert e.value.response.status_code == 403, method
    with pytest.raises(HfHubHTTPError) as e:  # a read-only token uploads nothing to its own namespace either
        HfApi(endpoint=bhub.url, token=read_only).create_bucket("alice/ro-made")
    assert e.value.response.status_code == 403
    info = api.bucket_info("alice/shared")
    assert (info.total_files, info.private) == (1, False)


def test_file_ids_of_other_buckets_and_repos_are_refused(bhub, alice, bob, tmp_path):
    api, other = HfApi(endpoint=bhub.url, token=alice), HfApi(endpoint=bhub.url, token=bob)
    api.create_bucket("alice/private-src", private=True)
    api.create_bucket("alice/public-src")
    secret = os.urandom(50_000)
    upload(bhub, alice, "alice/private-src", {"s.bin": secret}, tmp_path / "home-a")
    upload(bhub, alice, "alice/public-src", {"p.txt": b"public"}, tmp_path / "home-a")
    api.create_repo("alice/private-model", private=True)
    client(bhub, alice, """
        from huggingface_hub import HfApi
        import os
        HfApi().upload_file(path_or_fileobj=os.urandom(40_000), path_in_repo="m.bin", repo_id="alice/private-model")
    """, tmp_path / "home-a")
    secret_id = api.list_bucket_tree("alice/private-src").__next__().xet_hash
    model_id = api.get_paths_info("alice/private-model", ["m.bin"])[0].xet_hash
    assert model_id
    other.create_bucket("bob/mine")

    # naming a file ID uploaded elsewhere: refused, whatever bob knows
    r = batch(bhub, bob, "bob/mine", {"type": "addFile", "path": "stolen.bin", "xetHash": secret_id})
    assert r.status_code == 422 and "was not uploaded to this bucket" in r.json()["failed"][0]["error"]
    copy = {"type": "copyFile", "path": "c.bin", "xetHash": secret_id}
    missing = batch(bhub, bob, "bob/mine", {**copy, "sourceRepoType": "bucket", "sourceRepoId": "alice/absent"})
    hidden = batch(bhub, bob, "bob/mine", {**copy, "sourceRepoType": "bucket", "sourceRepoId": "alice/private-src"})
    assert hidden.status_code == missing.status_code == 422
    assert hidden.json()["failed"][0]["error"].replace("private-src", "absent") == missing.json()["failed"][0]["error"]
    r = batch(bhub, bob, "bob/mine", {**copy, "sourceRepoType": "bucket", "sourceRepoId": "alice/public-src"})
    assert r.status_code == 422 and "not found in bucket alice/public-src" in r.json()["failed"][0]["error"]
    r = batch(bhub, bob, "bob/mine", {"type": "copyFile", "path": "m.bin", "xetHash": model_id,
                                      "sourceRepoType": "model", "sourceRepoId": "alice/private-model"})
    assert r.status_code == 422
    assert list(other.list_bucket_tree("bob/mine")) == []

    # a Xet read token of bob's bucket reconstructs only what that bucket may read
    t = httpx.get(f"{bhub.url}/api/buckets/bob/mine/xet-read-token", headers={"authorization": f"Bearer {bob}"}).json()
    cas = {"authorization": f"Bearer {t['accessToken']}", "range": "bytes=0-99"}
    for file_id in (secret_id, model_id):
        assert httpx.get(f"{t['casUrl']}/v1/reconstructions/{file_id}", headers=cas).status_code == 404
    # the owner copies from her own private repo; bob uploads the same bytes himself: both fine
    api.create_bucket("alice/mine")
    assert batch(bhub, alice, "alice/mine", {"type": "copyFile", "path": "m.bin", "xetHash": model_id,
                                             "sourceRepoType": "model", "sourceRepoId": "alice/private-model"}
                 ).json() == {"failed": []}
    upload(bhub, bob, "bob/mine", {"own.bin": secret}, tmp_path / "home-b")
    assert other.list_bucket_tree("bob/mine").__next__().xet_hash == secret_id


# -- garbage collection ----------------------------------------------------------------------------


def test_gc_keeps_bucket_files_and_collects_deleted_buckets(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        token = server.user("gail")
        api = HfApi(endpoint=server.url, token=token)
        api.create_bucket("gail/keep")
        api.create_bucket("gail/drop")
        kept, dropped = os.urandom(300_000), os.urandom(200_000)
        upload(server, token, "gail/keep", {"k.bin": kept}, tmp_path / "home")
        upload(server, token, "gail/drop", {"d.bin": dropped}, tmp_path / "home2")
        before = xorbs(server)
        assert "would remove 0 xorbs" in server.cli("gc", "--grace", "0")
        api.delete_bucket("gail/drop")
        done = server.cli("gc", "--grace", "0", "--apply")
        assert "removed 1 xorbs" in done and "1 Xet file records" in done, done
        assert len(xorbs(server)) == len(before) - 1
        h = {"authorization": f"Bearer {token}"}
        assert httpx.get(f"{server.url}/buckets/gail/keep/resolve/k.bin", headers=h).content == kept
        out = tmp_path / "k.bin"
        client(server, token, f"""
            from huggingface_hub import HfApi
            HfApi().download_bucket_files("gail/keep", [("k.bin", {str(out)!r})])
        """, tmp_path / "home3")
        assert out.read_bytes() == kept
    finally:
        stop_server(server)


# -- bounds ----------------------------------------------------------------------------------------


def test_every_client_input_is_bounded(tmp_path):
    server = start_server(tmp_path / "data", env={"COVE_MAX_BATCH_OBJECTS": "5", "COVE_MAX_REPO_FILES": "3",
                                                  "COVE_MAX_JSON_BYTES": "65536"})
    try:
        token = server.user("lena")
        h = {"authorization": f"Bearer {token}"}
        api = HfApi(endpoint=server.url, token=token)
        api.create_bucket("lena/b")
        upload(server, token, "lena/b", {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"}, tmp_path / "home")
        file_id = tree(api, "lena/b")["a.txt"].xet_hash
        add = {"type": "copyFile", "xetHash": file_id, "sourceRepoType": "bucket", "sourceRepoId": "lena/b"}
        url = f"{server.url}/api/buckets/lena/b"

        def status(r: httpx.Response) -> tuple[int, str]:
            return r.status_code, r.headers.get("x-error-code", "")

        too_many = [{"type": "deleteFile", "path": f"x{n}"} for n in range(6)]
        assert status(batch(server, token, "lena/b", *too_many)) == (400, "BadRequest")
        assert status(httpx.post(f"{url}/batch", headers=h, content=b"{" * 70_000)) == (413, "PayloadTooLarge")
        for bad in (b"not json\n", b"[1]\n", b'{"type": "rename", "path": "a"}\n', b'{"type": "deleteFile"}\n',
                    b'{"type": "addFile", "path": "a", "xetHash": "00"}\n',
                    b'{"type": "addFile", "path": "a", "xetHash": "%s", "mtime": 1e300}\n' % file_id.encode(),
                    b'{"type": "addFile", "path": "a", "xetHash": "%s", "mtime": true}\n' % file_id.encode(),
                    b'{"type": "copyFile", "path": "a", "xetHash": "%s", "sourceRepoType": "kernel", '
                    b'"sourceRepoId": "x/y"}\n' % file_id.encode(),
                    b"\xff\xfe\n",
                    b'{"type": "deleteFile", "path": ' + b"[" * 100 + b"]" * 100 + b"}\n"):
            assert status(httpx.post(f"{url}/batch", headers=h, content=bad))[0] == 400, bad
        # the name rule: each bad path is a failed operation, and nothing is written
        r = batch(server, token, "lena/b", *({**add, "path": p} for p in ("../x", ".git/config", "a//b", "/abs",
                                                                          "x" * 300)))
        assert r.status_code == 422 and len(r.json()["failed"]) == 5
        # a full bucket refuses new paths, not replacements
        r = batch(server, token, "lena/b", {**add, "path": "d.txt"}, {**add, "path": "c.txt"})
        assert r.status_code == 200 and r.json()["failed"] == [{"path": "d.txt", "error": "a bucket holds at most 3 "
                                                                                         "files"}]
        assert status(httpx.post(f"{url}/paths-info", headers=h, json={"paths": ["a"] * 6})) == (400, "BadRequest")
        assert status(httpx.post(f"{url}/paths-info", headers=h, json={"paths": "a.txt"})) == (400, "BadRequest")
        got = httpx.post(f"{url}/paths-info", headers=h, json={"paths": ["a.txt", "../x", "", "nope"]})
        assert [e["path"] for e in got.json()] == ["a.txt"]
        for query in ("cursor=zz", "cursor=f:", "cursor=d:" + "x" * 5000):
            assert status(httpx.get(f"{url}/tree?{query}", headers=h)) == (400, "BadRequest"), query
        assert status(httpx.get(f"{url}/tree/a%2F%2Fb", headers=h)) == (400, "BadRequest")
        assert status(httpx.post(f"{server.url}/api/buckets/lena/{'n' * 97}", headers=h)) == (400, "BadRequest")
        assert status(httpx.post(f"{server.url}/api/buckets/lena/a..b", headers=h)) == (400, "BadRequest")
        assert status(httpx.post(f"{server.url}/api/buckets/lena/ok", headers=h, json={"visibility": "x"}))[0] == 400
        assert status(httpx.put(f"{url}/settings", headers=h, json={"private": "yes"})) == (400, "BadRequest")
        assert status(httpx.get(f"{server.url}/api/buckets/lena?search={'s' * 300}", headers=h))[0] == 400
        assert status(httpx.get(f"{url}/resolve/a.txt".replace("/api/buckets", "/buckets"), headers={
            **h, "range": "bytes=5-9"})) == (416, "RangeNotSatisfiable")
        assert [e.path for e in api.list_bucket_tree("lena/b")] == ["a.txt", "b.txt", "c.txt"]
    finally:
        stop_server(server)

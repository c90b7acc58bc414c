"""``cove gc`` on a running Hub: content no commit references goes (xorbs, Xet file records, LFS blobs),
everything a reachable commit names stays downloadable, and nothing younger than the grace period
(an upload in flight) is touched; a dry run deletes nothing."""

from __future__ import annotations

import hashlib
import os

import httpx
from huggingface_hub import CommitOperationAdd, HfApi

from cove.server.cas.hashes import to_hex
from tests.conftest import start_server, stop_server
from tests.e2e.test_xet_faults import cas_client, commit_lfs, craft, stored_xorbs


def test_gc_removes_what_no_commit_references(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        token = server.user("gina")
        api = HfApi(endpoint=server.url, token=token)
        api.create_repo("gina/m")
        kept_xet = os.urandom(300_000)
        body, index, _, shard = craft(kept_xet)
        with cas_client(server, token, "gina/m") as cas:
            assert cas.post(f"/v1/xorbs/default/{to_hex(index.hash)}", content=body).status_code == 200
            assert cas.post("/v1/shards", content=shard).status_code == 200
            # orphans: a xorb no shard names, and a file no commit names
            orphan_body, orphan_index, _, _ = craft(os.urandom(100_000))
            assert cas.post(f"/v1/xorbs/default/{to_hex(orphan_index.hash)}", content=orphan_body).status_code == 200
            again = cas.post(f"/v1/xorbs/default/{to_hex(orphan_index.hash)}", content=orphan_body)
            assert again.json() == {"was_inserted": False}  # and the server keeps its index in memory
            lost = os.urandom(120_000)
            lost_body, lost_index, _, lost_shard = craft(lost)
            assert cas.post(f"/v1/xorbs/default/{to_hex(lost_index.hash)}", content=lost_body).status_code == 200
            assert cas.post("/v1/shards", content=lost_shard).status_code == 200
        assert commit_lfs(server, token, "gina/m", hashlib.sha256(kept_xet).hexdigest(), len(kept_xet)).status_code == 200
        # an LFS blob on a branch that is then deleted, and one kept in main's history only
        blob_gone, blob_old = b"\x00gone" * 5000, b"\x00old" * 5000
        api.create_branch("gina/m", branch="tmp")
        with_disabled_xet(api, "gina/m", "gone.bin", blob_gone, revision="tmp")
        with_disabled_xet(api, "gina/m", "old.bin", blob_old)
        api.delete_file("old.bin", "gina/m")
        api.delete_branch("gina/m", branch="tmp")

        young = server.cli("gc", "--apply")  # the default grace (a day): everything is an upload in flight
        assert young.strip().endswith("removed 0 xorbs (0 bytes), 0 Xet file records, 0 LFS blobs (0 bytes)")
        before = stored_xorbs(server)
        dry = server.cli("gc", "--grace", "0", "--verbose")
        assert "would remove 2 xorbs" in dry and "1 Xet file records" in dry and "1 LFS blobs" in dry, dry
        assert f"lfs-blob {hashlib.sha256(blob_gone).hexdigest()}" in dry
        assert stored_xorbs(server) == before
        done = server.cli("gc", "--grace", "0", "--apply")
        assert "removed 2 xorbs" in done, done
        gone = {to_hex(orphan_index.hash), to_hex(lost_index.hash)}
        assert not gone & {n.removesuffix(".index") for n in stored_xorbs(server)}
        assert to_hex(index.hash) in stored_xorbs(server)
        h = {"authorization": f"Bearer {token}"}
        assert httpx.get(f"{server.url}/gina/m/resolve/main/w.bin", headers=h, follow_redirects=True).content == kept_xet
        old_rev = api.list_repo_commits("gina/m")[1].commit_id
        assert httpx.get(f"{server.url}/gina/m/resolve/{old_rev}/old.bin", headers=h,
                         follow_redirects=True).content == blob_old
        # the collected file can no longer be linked: its content is gone
        assert commit_lfs(server, token, "gina/m", hashlib.sha256(lost).hexdigest(), len(lost), "lost.bin"
                          ).status_code == 422
        with cas_client(server, token, "gina/m") as cas:  # uploaded again: stored again
            r = cas.post(f"/v1/xorbs/default/{to_hex(orphan_index.hash)}", content=orphan_body)
            assert r.json() == {"was_inserted": True} and to_hex(orphan_index.hash) in stored_xorbs(server)
        again = server.cli("gc", "--grace", "0", "--apply")
        assert "removed 1 xorbs" in again and "0 LFS blobs" in again  # the orphan, again
    finally:
        stop_server(server)


def with_disabled_xet(api: HfApi, repo: str, path: str, data: bytes, revision: str | None = None) -> None:
    """Commit ``data`` through the LFS batch API (a BytesIO makes the client skip Xet)."""
    import io

    api.create_commit(repo, operations=[CommitOperationAdd(path, io.BytesIO(data))], commit_message=path,
                      revision=revision)

"""The stock huggingface_hub client with hf_xet (its default) against `cove serve` speaking Xet.

Every client step runs in its own process with its own HF_HOME (hf_xet keeps a shard cache there that
would hide missing server features, spec §10), against one Hub started with ``--log-level info`` so
each test can read which routes the client called. What is proved:

* ``upload_file`` of a 70 MiB file and ``upload_folder`` go through Xet (xorbs and a shard, no LFS
  batch call, no inline content), and come back byte for byte through ``hf_hub_download``,
  ``snapshot_download`` (Xet reconstructions and signed fetch URLs), ``HfFileSystem`` random reads
  (plain ranged GETs, reconstructed on the server), git-lfs clone and the LFS batch download;
* a file uploaded through the LFS batch API (``HF_HUB_DISABLE_XET=1``) becomes Xet-readable after
  its first download and then downloads through Xet;
* dedup: the same file uploaded again from another machine sends no xorb; a fine-tune whose
  safetensors differ from the base in 10% of the tensors sends at most 15% of its bytes; one whose
  header changed too dedups from the first chunk the client asks about and the server knows;
* ``datasets``' ``push_to_hub`` + ``load_dataset`` and ``transformers``' ``push_to_hub`` + ``from_pretrained``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi

from tests.conftest import presigns, start_server, stop_server, stored_blobs

pytest.importorskip("hf_xet")
pytestmark = pytest.mark.slow
MiB = 1024 * 1024
_REQUEST = re.compile(r'"(GET|POST|PUT|HEAD|DELETE) (\S+) HTTP/1\.1" (\d{3})')


@pytest.fixture(scope="module")
def xhub(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("xet") / "data", args=("--log-level", "info"))
    limit_memory(server)
    yield server
    peak = peak_rss_mb(server)
    stop_server(server)
    print(f"server peak RSS: {peak:.0f} MB")
    assert peak < SERVER_RSS_MB  # every upload and download streams: nothing is held whole


@pytest.fixture(scope="module")
def token(xhub) -> str:
    return xhub.user("xavier")


#: The Hub's address space is capped (prlimit) and its peak resident memory checked at the end.
SERVER_AS_BYTES = 6 << 30
SERVER_RSS_MB = 450


def limit_memory(server) -> None:
    subprocess.run(["prlimit", f"--pid={server.proc.pid}", f"--as={SERVER_AS_BYTES}"], check=True)


def peak_rss_mb(server) -> float:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


class Requests:
    """The requests the Hub logged since this object was made."""

    def __init__(self, server) -> None:
        self.server, self.start = server, server.log.stat().st_size

    def all(self) -> list[tuple[str, str, int]]:
        with open(self.server.log, "rb") as f:
            f.seek(self.start)
            text = f.read().decode("utf-8", "replace")
        return [(m[1], m[2], int(m[3])) for m in _REQUEST.finditer(text)]

    def count(self, method: str, prefix: str, status: int | None = None) -> int:
        return sum(1 for m, p, s in self.all() if m == method and p.startswith(prefix) and status in (None, s))


def client(server, token: str, code: str, home: Path, **env: str) -> str:
    """Run ``code`` with the stock client in a new process whose Hugging Face home is ``home``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    full.update(HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
                HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_CACHE=str(home / "datasets"),
                TRANSFORMERS_VERBOSITY="error", **env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def random_file(path: Path, size: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(rng.bytes(n))
            left -= n
    return path


def new_xorb_bytes(server, before: dict[str, int]) -> int:
    return sum(size for name, size in xorbs(server).items() if name not in before)


def xorbs(server) -> dict[str, int]:
    """``{xorb: size}`` of the stored xorbs (on disk or S3)."""
    return {name: size for name, size in stored_blobs(server, "xorbs").items() if "." not in name}


def unique(stem: str) -> str:
    return f"xavier/{stem}-{uuid.uuid4().hex[:6]}"


# -- a large file, every way down --------------------------------------------------------------------


def test_large_file_up_through_xet_and_down_every_way(xhub, token, tmp_path):
    repo = unique("big")
    HfApi(endpoint=xhub.url, token=token).create_repo(repo)
    big = random_file(tmp_path / "big.bin", 70 * MiB + 12_345, seed=1)
    want = sha256_of(big)
    log = Requests(xhub)
    client(xhub, token, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(big)!r}, path_in_repo="weights/big.bin", repo_id={repo!r})
    """, tmp_path / "up")
    assert log.count("GET", "/api/models/" + repo + "/xet-write-token/", 200) >= 1
    assert log.count("POST", "/cas/v1/xorbs/", 200) >= 2  # 70 MiB: more than one 64 MiB xorb
    assert log.count("POST", "/cas/v1/shards", 200) >= 1
    assert log.count("POST", f"/api/models/{repo}/commit/main", 200) == 1
    assert log.count("POST", f"/{repo}.git/info/lfs/objects/batch") == 0
    api = HfApi(endpoint=xhub.url, token=token)
    [entry] = [e for e in api.list_repo_tree(repo, recursive=True) if e.path == "weights/big.bin"]
    assert entry.lfs.sha256 == want and entry.size == big.stat().st_size
    assert re.fullmatch(r"[0-9a-f]{64}", entry.xet_hash or "")
    # no blob: the content lives once, as chunks
    assert want not in stored_blobs(xhub, "lfs")

    log = Requests(xhub)
    out = client(xhub, token, f"""
        import hashlib
        from huggingface_hub import hf_hub_download, snapshot_download
        path = hf_hub_download({repo!r}, "weights/big.bin")
        print(hashlib.sha256(open(path, "rb").read()).hexdigest())
    """, tmp_path / "down")
    assert out.split()[-1] == want
    assert log.count("GET", "/cas/v2/reconstructions/", 200) >= 1
    assert log.count("GET", "/cas/v1/fetch/", 206) >= 2 or presigns(xhub)  # else the store served them
    assert log.count("GET", f"/{repo}/resolve/") == 0  # HEAD only: the bytes came from the CAS

    log = Requests(xhub)
    out = client(xhub, token, f"""
        import hashlib, os
        from huggingface_hub import snapshot_download
        folder = snapshot_download({repo!r})
        print(hashlib.sha256(open(os.path.join(folder, "weights/big.bin"), "rb").read()).hexdigest())
    """, tmp_path / "snap")
    assert out.split()[-1] == want and (log.count("GET", "/cas/v1/fetch/", 206) >= 2 or presigns(xhub))

    # HfFileSystem random access: plain ranged GETs on resolve, reconstructed by the server
    log = Requests(xhub)
    data = big.read_bytes()
    points = [(0, 10), (64 * MiB - 5, 64 * MiB + 5), (33_333_333, 33_433_333), (len(data) - 7, len(data))]
    out = client(xhub, token, f"""
        import json
        from huggingface_hub import HfFileSystem
        fs = HfFileSystem()
        got = []
        with fs.open({repo!r} + "/weights/big.bin", "rb") as f:
            for a, b in {points!r}:
                f.seek(a)
                got.append(f.read(b - a).hex())
        print(json.dumps(got))
    """, tmp_path / "fs")
    assert json.loads(out.splitlines()[-1]) == [data[a:b].hex() for a, b in points]
    assert log.count("GET", f"/{repo}/resolve/", 206) >= 2
    with httpx.Client(base_url=xhub.url, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
        r = http.get(f"/{repo}/resolve/main/weights/big.bin", headers={"range": "bytes=70000000-70000099"})
        assert r.status_code == 206 and r.content == data[70_000_000:70_000_100]
        r = http.get(f"/{repo}/resolve/main/weights/big.bin")
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == want
        head = http.head(f"/{repo}/resolve/main/weights/big.bin")
        assert head.headers["x-xet-hash"] == entry.xet_hash
        assert head.headers["x-xet-refresh-route"].startswith(f"{xhub.url}/api/models/{repo}/xet-read-token/")
        assert 'rel="xet-auth"' in head.headers["link"] and head.headers["x-linked-size"] == str(len(data))

    # git-lfs clone: the batch API's download URL reconstructs the file
    env = git_env(tmp_path)
    host = xhub.url.removeprefix("http://")
    subprocess.run(["git", "clone", f"http://x:{token}@{host}/{repo}", str(tmp_path / "clone")], env=env,
                   check=True, capture_output=True, timeout=300)
    assert sha256_of(tmp_path / "clone" / "weights" / "big.bin") == want


def git_env(tmp_path: Path) -> dict:
    home = tmp_path / "git-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", XDG_CONFIG_HOME=str(home / ".c"))
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True, capture_output=True)
    return env


def test_folder_up_and_down(xhub, token, tmp_path):
    repo = unique("folder")
    HfApi(endpoint=xhub.url, token=token).create_repo(repo, private=True)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    files = {"README.md": b"# hello\n", "sub/a.txt": b"a text file\n" * 10,
             "sub/model.safetensors": np.random.default_rng(3).bytes(3 * MiB),
             "tensor.bin": b"\x00\x01" * 5000, "big.dat": np.random.default_rng(4).bytes(12 * MiB),
             "dup.dat": np.random.default_rng(4).bytes(12 * MiB)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    log = Requests(xhub)
    client(xhub, token, f"""
        from huggingface_hub import HfApi
        HfApi().upload_folder(folder_path={str(folder)!r}, repo_id={repo!r})
    """, tmp_path / "up")
    assert log.count("POST", "/cas/v1/shards", 200) >= 1 and log.count("POST", "/cas/v1/xorbs/", 200) >= 1
    tree = {e.path: e for e in HfApi(endpoint=xhub.url, token=token).list_repo_tree(repo, recursive=True)
            if hasattr(e, "size")}
    lfs = {p for p, e in tree.items() if e.lfs}
    assert lfs == {"sub/model.safetensors", "tensor.bin", "big.dat", "dup.dat"}
    assert all(tree[p].xet_hash for p in lfs) and tree["big.dat"].xet_hash == tree["dup.dat"].xet_hash
    out = client(xhub, token, f"""
        import hashlib, json, os
        from huggingface_hub import snapshot_download
        folder = snapshot_download({repo!r})
        print(json.dumps({{p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest()
                          for p in {sorted(files)!r}}}))
    """, tmp_path / "down")
    assert json.loads(out.splitlines()[-1]) == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    out = client(xhub, token, f"""
        import hashlib, json
        from huggingface_hub import HfFileSystem
        fs = HfFileSystem()
        names = sorted(fs.find({repo!r}))
        print(json.dumps({{n.split("/", 2)[2]: hashlib.sha256(fs.cat_file(n)).hexdigest() for n in names}}))
    """, tmp_path / "fs")
    got = json.loads(out.splitlines()[-1])
    assert got == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()} | {".gitattributes": got[".gitattributes"]}


# -- LFS uploads become Xet-readable -------------------------------------------------------------------


def test_lfs_upload_then_xet_download(xhub, token, tmp_path):
    repo = unique("lfs-then-xet")
    HfApi(endpoint=xhub.url, token=token).create_repo(repo)
    big = random_file(tmp_path / "w.bin", 9 * MiB + 7, seed=5)
    want = sha256_of(big)
    log = Requests(xhub)
    client(xhub, token, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(big)!r}, path_in_repo="w.bin", repo_id={repo!r})
    """, tmp_path / "up", HF_HUB_DISABLE_XET="1")
    assert log.count("POST", f"/{repo}.git/info/lfs/objects/batch", 200) == 1
    assert log.count("POST", "/cas/") == 0
    api = HfApi(endpoint=xhub.url, token=token)
    assert api.get_paths_info(repo, ["w.bin"])[0].xet_hash is None  # a blob, not converted yet
    # the first download is plain HTTP; its HEAD queues the conversion
    download = f"""
        import hashlib
        from huggingface_hub import hf_hub_download
        print(hashlib.sha256(open(hf_hub_download({repo!r}, "w.bin"), "rb").read()).hexdigest())
    """
    assert client(xhub, token, download, tmp_path / "first").split()[-1] == want
    deadline = time.monotonic() + 60
    while api.get_paths_info(repo, ["w.bin"])[0].xet_hash is None:
        assert time.monotonic() < deadline, "the blob was never converted"
        time.sleep(0.5)
    log = Requests(xhub)
    assert client(xhub, token, download, tmp_path / "second").split()[-1] == want
    assert log.count("GET", "/cas/v2/reconstructions/", 200) >= 1
    assert log.count("GET", "/cas/v1/fetch/", 206) >= 1 or presigns(xhub)  # else the store served them


# -- dedup -----------------------------------------------------------------------------------------


def test_same_file_again_sends_no_xorb(xhub, token, tmp_path):
    big = random_file(tmp_path / "same.bin", 20 * MiB, seed=6)
    api = HfApi(endpoint=xhub.url, token=token)
    first, second = unique("same-a"), unique("same-b")
    for repo in (first, second):
        api.create_repo(repo)
    upload = """
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={path!r}, path_in_repo="same.bin", repo_id={repo!r})
    """
    client(xhub, token, upload.format(path=str(big), repo=first), tmp_path / "machine-a")
    before = xorbs(xhub)
    log = Requests(xhub)
    client(xhub, token, upload.format(path=str(big), repo=second), tmp_path / "machine-b")  # no shard cache
    assert log.count("POST", "/cas/v1/xorbs/") == 0 and new_xorb_bytes(xhub, before) == 0
    assert log.count("GET", "/cas/v1/chunks/", 200) >= 1 and log.count("POST", "/cas/v1/shards", 200) == 1
    assert api.get_paths_info(second, ["same.bin"])[0].lfs.sha256 == sha256_of(big)


def _fine_tune(xhub, token, tmp_path, *, seed: int, metadata: dict | None) -> tuple[int, int, Requests]:
    """Upload a base (60 tensors of 1 MiB) from one machine, then from another a fine-tune with 6 of
    them changed (and ``metadata`` in its header); check the fine-tune downloads byte for byte.
    ``(xorb bytes the fine-tune stored, its size, the requests of its upload)``."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    base = {f"layers.{i:02d}.weight": rng.standard_normal((512, 512), dtype=np.float32) for i in range(60)}
    tuned = dict(base)
    for i in range(5, 60, 10):  # 6 of 60 tensors (10%) change
        name = f"layers.{i:02d}.weight"
        tuned[name] = base[name] + rng.standard_normal((512, 512), dtype=np.float32) * 1e-3
    save_file(base, tmp_path / "base.safetensors")
    (tmp_path / "tuned").mkdir()
    save_file(tuned, tmp_path / "tuned" / "model.safetensors", metadata=metadata)
    size = (tmp_path / "tuned" / "model.safetensors").stat().st_size
    api = HfApi(endpoint=xhub.url, token=token)
    base_repo, tuned_repo = unique("base"), unique("tuned")
    for repo in (base_repo, tuned_repo):
        api.create_repo(repo)
    upload = """
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={path!r}, path_in_repo="model.safetensors", repo_id={repo!r})
    """
    client(xhub, token, upload.format(path=str(tmp_path / "base.safetensors"), repo=base_repo), tmp_path / "m1")
    before = xorbs(xhub)
    log = Requests(xhub)
    client(xhub, token, upload.format(path=str(tmp_path / "tuned" / "model.safetensors"), repo=tuned_repo),
           tmp_path / "m2")  # another machine: only the server's dedup answers help
    sent = new_xorb_bytes(xhub, before)
    print(f"fine-tune: {sent} of {size} bytes sent ({sent / size:.1%})")
    out = client(xhub, token, f"""
        import hashlib
        from huggingface_hub import hf_hub_download
        print(hashlib.sha256(open(hf_hub_download({tuned_repo!r}, "model.safetensors"), "rb").read()).hexdigest())
    """, tmp_path / "m3")
    assert out.split()[-1] == sha256_of(tmp_path / "tuned" / "model.safetensors")
    return sent, size, log


def test_fine_tune_sends_only_what_changed(xhub, token, tmp_path):
    # The client asks the server about a file's first chunk and about ~1 chunk in 1024 (spec §4.7):
    # here the first chunk (header and first tensor) is unchanged, and the answer about it lists
    # every xorb of the base file
    sent, size, _ = _fine_tune(xhub, token, tmp_path, seed=7, metadata=None)
    assert 0 < sent <= 0.15 * size


def test_fine_tune_with_a_new_header(xhub, token, tmp_path):
    """A fine-tune whose header (so its first chunk) changed: the client can only find the base through
    a chunk whose hash is 0 mod 1024, which it asks about at most once per 256 chunks after the first
    (hf_xet 1.8: ``min_spacing_between_global_dedup_queries``). What it processed before the first
    answered query is sent; everything after dedups, because the answer lists every xorb of the base.

    With seed 7 (the test above) no chunk of the base is eligible: the client's queries can only miss,
    and 94% is sent whatever the server does. Seed 5 has an eligible, unchanged chunk at
    chunk 286 (byte 18.9 MB, found with ``cove.server.cas.chunker``): the client's 8 MB ingestion
    blocks before it are sent, the rest only where tensors changed."""
    sent, size, log = _fine_tune(xhub, token, tmp_path, seed=5, metadata={"step": "1000"})
    queries = [(p, s) for m, p, s in log.all() if m == "GET" and p.startswith("/cas/v1/chunks/")]
    assert [s for _, s in queries] == [404, 200]  # the new first chunk, then the eligible one
    hit = 18_880_552  # the answered chunk's offset in the fine-tune
    changed_after = 5 * MiB  # tensors 15..55 changed; 15 ends before the hit, give it a MiB of slack
    assert sent <= hit + changed_after + 2 * MiB


# -- the libraries -----------------------------------------------------------------------------------


def test_datasets_push_to_hub_and_load(xhub, token, tmp_path):
    repo = unique("data")
    log = Requests(xhub)
    out = client(xhub, token, f"""
        from datasets import Dataset, DatasetDict, load_dataset
        data = DatasetDict({{
            "train": Dataset.from_dict({{"text": ["a", "b", "c"] * 1000, "label": [0, 1, 0] * 1000}}),
            "test": Dataset.from_dict({{"text": ["d"], "label": [1]}}),
        }})
        data.push_to_hub({repo!r})
        back = load_dataset({repo!r})
        assert back["train"]["text"][:3] == ["a", "b", "c"] and back["test"]["label"] == [1], back
        print("ok")
    """, tmp_path / "ds")
    assert out.strip().endswith("ok")
    assert log.count("POST", "/cas/v1/shards", 200) >= 1
    files = HfApi(endpoint=xhub.url, token=token).list_repo_tree(repo, repo_type="dataset", recursive=True)
    parquet = [f for f in files if f.path.endswith(".parquet")]
    assert len(parquet) == 2 and all(f.lfs and f.xet_hash for f in parquet)
    # the dataset viewer reads the Xet-stored Parquet through the same seekable reader
    rows = httpx.get(f"{xhub.url}/api/datasets/{repo}/rows", params={"config": "default", "split": "train"},
                     headers={"authorization": f"Bearer {token}"}, timeout=60)
    assert rows.status_code == 200, rows.text
    assert rows.json()["num_rows_total"] == 3000 and rows.json()["rows"][0]["row"] == {"text": "a", "label": 0}


def test_transformers_push_to_hub_and_load(xhub, token, tmp_path):
    repo = unique("tiny-bert")
    log = Requests(xhub)
    out = client(xhub, token, f"""
        import torch
        from transformers import AutoModel, BertConfig, BertModel
        torch.manual_seed(0)
        model = BertModel(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=37))
        model.push_to_hub({repo!r})
        again = AutoModel.from_pretrained({repo!r})
        for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
            assert torch.equal(a, b), k
        print("ok")
    """, tmp_path / "tf")
    assert out.strip().endswith("ok")
    assert log.count("POST", "/cas/v1/shards", 200) >= 1
    [weights] = [e for e in HfApi(endpoint=xhub.url, token=token).list_repo_tree(repo)
                 if e.path == "model.safetensors"]
    assert weights.xet_hash


def test_cross_repo_copy(xhub, token, tmp_path):
    """``CommitOperationCopy`` from another repo: ``lfs-files/duplicate`` lets the target reference the file."""
    from huggingface_hub import CommitOperationCopy
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=xhub.url, token=token)
    source, target = unique("copy-src"), unique("copy-dst")
    api.create_repo(source, private=True)
    api.create_repo(target)
    data = np.random.default_rng(8).bytes(2 * MiB)
    (tmp_path / "w.bin").write_bytes(data)
    client(xhub, token, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(tmp_path / "w.bin")!r}, path_in_repo="w.bin", repo_id={source!r})
    """, tmp_path / "up")
    copy = CommitOperationCopy("w.bin", "copied/w.bin", src_repo_id=source, src_repo_type="model")
    api.create_commit(target, operations=[copy], commit_message="copy")
    [entry] = api.get_paths_info(target, ["copied/w.bin"])
    assert entry.lfs.sha256 == hashlib.sha256(data).hexdigest() and entry.xet_hash
    r = httpx.get(f"{xhub.url}/{target}/resolve/main/copied/w.bin", follow_redirects=True)  # the target is public
    assert r.content == data
    stranger = HfApi(endpoint=xhub.url, token=xhub.user("mallory"))
    stranger.create_repo("mallory/loot")
    with pytest.raises(HfHubHTTPError) as err:
        stranger.create_commit("mallory/loot", commit_message="steal", operations=[
            CommitOperationCopy("w.bin", "w.bin", src_repo_id=source, src_repo_type="model")])
    assert err.value.response.status_code in (404, 401)
    r = httpx.post(f"{xhub.url}/api/models/{source}/lfs-files/duplicate",
                   headers={"authorization": f"Bearer {xhub.user('mallory')}"},
                   json={"target": {"type": "model", "name": "mallory/loot"},
                         "files": [{"sha256": entry.lfs.sha256, "xetHash": entry.xet_hash}]})
    missing = httpx.post(f"{xhub.url}/api/models/xavier/nothing-here/lfs-files/duplicate",
                         headers={"authorization": f"Bearer {xhub.user('mallory')}"}, json={})
    assert r.status_code == missing.status_code == 404


def test_deleting_lfs_files_cuts_the_repos_xet_access(xhub, token, tmp_path):
    """`permanently_delete_lfs_files` on a file that arrived through Xet: the repo can no longer
    reconstruct it (its Xet registration goes with its LFS reference)."""
    big = random_file(tmp_path / "secret.bin", 3 * MiB, seed=11)
    api = HfApi(endpoint=xhub.url, token=token)
    repo = unique("deleted")
    api.create_repo(repo)
    client(xhub, token, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(big)!r}, path_in_repo="secret.bin", repo_id={repo!r})
    """, tmp_path / "machine")
    entry = httpx.post(f"{xhub.url}/api/models/{repo}/paths-info/main", json={"paths": ["secret.bin"]},
                       headers={"authorization": f"Bearer {token}"}).json()[0]
    file_id = entry["xetHash"]

    def reconstruction() -> int:
        grant = httpx.get(f"{xhub.url}/api/models/{repo}/xet-read-token/main",
                          headers={"authorization": f"Bearer {token}"}).json()
        return httpx.get(f"{grant['casUrl']}/v1/reconstructions/{file_id}",
                         headers={"authorization": f"Bearer {grant['accessToken']}", "range": "bytes=0-99"}).status_code

    assert reconstruction() == 200
    files = [f for f in api.list_lfs_files(repo) if f.file_oid == sha256_of(big)]
    api.permanently_delete_lfs_files(repo, files, rewrite_history=True)
    assert "secret.bin" not in api.list_repo_files(repo)
    assert reconstruction() == 404

"""A new team's first hour in the web UI, against a real ``cove serve``.

Plain HTTP (httpx) tests cover each editing route's errors: no CSRF token (403), a caller who may not
write (403, or 404 for a repo they cannot see, as the API answers), hostile names, oversize uploads;
and what the pages show: commit diffs, rendered cards, model size, snippets, filters, password change.
One headless-Chromium test walks the whole hour: sign in, create a repo, drop files on the upload
page, edit the card, open the commit and its diff, change visibility, rename, delete.

Accounts erin (password), frank (password, no rights on erin's repos) and the erin-team org are used
by no other test module.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import time
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from huggingface_hub import HfApi, ModelCard, ModelCardData

from tests.browser import browser_sign_in, chromium_page, needs_chromium
from tests.conftest import start_server, stop_server

ERIN_PW = "erin-first-hour-1"
FRANK_PW = "frank-first-hour-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    url: str
    erin: str  # erin's write token
    frank: str


@pytest.fixture(scope="module")
def site(hub) -> Site:
    erin = hub.user("erin", password=ERIN_PW)
    frank = hub.user("frank", password=FRANK_PW)
    hub.cli("orgs", "add", "erin-team", "--owner", "erin")
    api = HfApi(endpoint=hub.url, token=erin)
    api.create_repo("erin/public-model")
    api.upload_file(path_or_fileobj=b"# Public\n", path_in_repo="README.md", repo_id="erin/public-model")
    api.create_repo("erin/private-model", private=True)
    return Site(hub.url, erin, frank)


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, follow_redirects=False, timeout=60)


def sign_in(url: str, name: str, password: str) -> httpx.Client:
    c = client(url)
    csrf = CSRF.search(c.get("/login").text).group(1)
    r = c.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def csrf_of(c: httpx.Client, path: str = "/settings/tokens") -> str:
    page = c.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return CSRF.search(page.text).group(1)


def upload(c: httpx.Client, repo_path: str, files: dict[str, bytes], *, csrf: str | None, summary: str = "",
           folder: str = "") -> httpx.Response:
    data = {"summary": summary, "folder": folder}
    if csrf is not None:
        data = {"csrf": csrf, **data}
    return c.post(f"{repo_path}/upload/main", data=data,
                  files=[("files", (name, io.BytesIO(body))) for name, body in files.items()])


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A valid safetensors file of zeros: ``{name: (dtype, shape)}``."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"\0" * offset


# -- every editing form needs the page's CSRF token ----------------------------------------------


def test_forms_without_csrf_token_are_refused(site):
    with closing(sign_in(site.url, "erin", ERIN_PW)) as c:
        posts = [
            ("/new", {"type": "model", "owner": "erin", "name": "no-csrf", "visibility": "public"}),
            ("/erin/public-model/edit/main/README.md", {"content": "changed"}),
            ("/erin/public-model/new/main", {"path": "x.txt", "content": "x"}),
            ("/erin/public-model/settings/visibility", {"visibility": "private"}),
            ("/erin/public-model/settings/gated", {"gated": "auto"}),
            ("/erin/public-model/settings/move", {"owner": "erin", "name": "moved"}),
            ("/erin/public-model/settings/delete", {"confirm": "erin/public-model"}),
            ("/settings/password", {"current": ERIN_PW, "new": "x" * 12, "confirm": "x" * 12}),
        ]
        for path, data in posts:
            r = c.post(path, data=data)
            assert r.status_code == 403, (path, r.status_code)
            r = c.post(path, data={**data, "csrf": "0" * 64})
            assert r.status_code == 403, (path, r.status_code)
        r = upload(c, "/erin/public-model", {"a.txt": b"a"}, csrf=None)
        assert r.status_code == 403
        # a token, too, is no web session: the forms answer as for nobody
        r = httpx.post(f"{site.url}/erin/public-model/settings/delete", data={"confirm": "erin/public-model"},
                       headers={"Authorization": f"Bearer {site.erin}"})
        assert r.status_code == 403
        info = HfApi(endpoint=site.url, token=site.erin).model_info("erin/public-model", files_metadata=True)
        assert not info.private and [s.rfilename for s in info.siblings] == [".gitattributes", "README.md"]
        assert not HfApi(endpoint=site.url, token=site.erin).repo_exists("erin/no-csrf")


def test_who_may_not_write_gets_what_the_api_answers(site):
    with closing(sign_in(site.url, "frank", FRANK_PW)) as c:
        csrf = csrf_of(c)
        for page in ("upload/main", "edit/main/README.md", "new/main", "settings"):
            assert c.get(f"/erin/public-model/{page}").status_code == 403, page
            assert c.get(f"/erin/private-model/{page}").status_code == 404, page
        assert upload(c, "/erin/public-model", {"a.txt": b"a"}, csrf=csrf).status_code == 403
        assert upload(c, "/erin/private-model", {"a.txt": b"a"}, csrf=csrf).status_code == 404
        r = c.post("/erin/public-model/settings/delete", data={"csrf": csrf, "confirm": "erin/public-model"})
        assert r.status_code == 403
        r = c.post("/erin/private-model/settings/visibility", data={"csrf": csrf, "visibility": "public"})
        assert r.status_code == 404
        r = c.post("/new", data={"csrf": csrf, "type": "model", "owner": "erin-team", "name": "x",
                                 "visibility": "public"})
        assert r.status_code == 403 and "rights" in r.text
        # the card page offers no edit links to a reader
        page = c.get("/erin/public-model").text
        assert "/edit/main/README.md" not in page and "Repo settings" not in page
    with closing(client(site.url)) as anon:
        r = anon.get("/erin/public-model/upload/main")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert HfApi(endpoint=site.url, token=site.erin).repo_exists("erin/public-model")


def test_create_each_kind_of_repo(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    with closing(sign_in(site.url, "erin", ERIN_PW)) as c:
        csrf = csrf_of(c, "/new")
        assert 'value="erin-team"' in c.get("/new").text  # an org the user may create repos in
        for kind, name, extra, home in (
                ("model", "erin-team/made-model", {"visibility": "private"}, "/erin-team/made-model"),
                ("dataset", "erin/made-data", {"visibility": "public"}, "/datasets/erin/made-data"),
                ("space", "erin/made-space", {"visibility": "public", "sdk": "gradio"}, "/spaces/erin/made-space")):
            owner, short = name.split("/")
            r = c.post("/new", data={"csrf": csrf, "type": kind, "owner": owner, "name": short, **extra})
            assert r.status_code == 303 and r.headers["location"] == home, r.text
            assert api.repo_info(name, repo_type=kind).private == (extra["visibility"] == "private")
        assert api.space_info("erin/made-space").sdk == "gradio"
        for home in ("/datasets/erin/made-data", "/spaces/erin/made-space"):  # commit pages of every kind
            sha = api.list_repo_commits(home.split("/", 2)[2], repo_type=home.split("/")[1][:-1])[0].commit_id
            page = c.get(f"{home}/commit/{sha}")
            assert page.status_code == 200 and f'<code class="sha-full">{sha}</code>' in page.text
        r = c.post("/new", data={"csrf": csrf, "type": "model", "owner": "erin-team", "name": "made-model",
                                 "visibility": "public"})
        assert r.status_code == 409 and "already created" in r.text


def test_hostile_names_are_refused_and_nothing_is_kept(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    with closing(sign_in(site.url, "erin", ERIN_PW)) as c:
        csrf = csrf_of(c)
        for name in ("../evil", "a/b", ".hidden", "x" * 200, "con tains space", "ok.git"):
            r = c.post("/new", data={"csrf": csrf, "type": "model", "owner": "erin", "name": name,
                                     "visibility": "public"})
            assert r.status_code == 400, name
            assert "alert" in r.text
        r = c.post("/new", data={"csrf": csrf, "type": "space", "owner": "erin", "name": "sp", "sdk": "flash",
                                 "visibility": "public"})
        assert r.status_code == 400
        r = c.post("/new", data={"csrf": csrf, "type": "model", "owner": "frank", "name": "mine",
                                 "visibility": "public"})
        assert r.status_code == 403
        head = api.model_info("erin/public-model").sha
        for name in ("../escape.txt", ".git/config", "a//b.txt", "/abs.txt"):
            assert upload(c, "/erin/public-model", {name: b"x"}, csrf=csrf).status_code == 400, name
        assert upload(c, "/erin/public-model", {"ok.txt": b"x"}, csrf=csrf, folder="../up").status_code == 400
        assert upload(c, "/erin/public-model", {}, csrf=csrf).status_code == 400
        r = c.post("/erin/public-model/upload/main", content=b"not multipart",
                   headers={"content-type": "text/plain"})
        assert r.status_code == 400
        for path in ("../x.txt", ".git/hooks/post-update", ""):
            r = c.post("/erin/public-model/new/main", data={"csrf": csrf, "path": path, "content": "x"})
            assert r.status_code == 400, path
        r = c.post("/erin/public-model/new/main", data={"csrf": csrf, "path": "README.md", "content": "x"})
        assert r.status_code == 409  # exists: edit it instead
        r = c.post("/erin/public-model/edit/main/README.md", data={"csrf": csrf, "content": "x", "parent": "zz"})
        assert r.status_code == 400
        assert c.get("/erin/public-model/edit/nope/README.md").status_code == 404
        assert c.get("/erin/public-model/edit/main/missing.md").status_code == 404
        r = c.post("/erin/public-model/settings/move", data={"csrf": csrf, "owner": "erin", "name": "../x"})
        assert r.status_code == 400
        r = c.post("/erin/public-model/settings/move", data={"csrf": csrf, "owner": "frank", "name": "x"})
        assert r.status_code == 403
        r = c.post("/erin/public-model/settings/delete", data={"csrf": csrf, "confirm": "public-model"})
        assert r.status_code == 400 and "erin/public-model" in r.text
        r = c.post("/erin/public-model/settings/visibility", data={"csrf": csrf, "visibility": "secret"})
        assert r.status_code == 400
    assert api.model_info("erin/public-model").sha == head
    assert api.repo_exists("erin/public-model") and not api.model_info("erin/public-model").private


def test_oversize_uploads_are_refused_and_leave_nothing(tmp_path):
    server = start_server(tmp_path / "data", env={"COVE_MAX_FILE_BYTES": "100000",
                                                  "COVE_MAX_COMMIT_BYTES": "300000"})
    try:
        server.user("olga", password="olga-password-1")
        HfApi(endpoint=server.url, token=server.user("olga")).create_repo("olga/m")
        with closing(sign_in(server.url, "olga", "olga-password-1")) as c:
            csrf = csrf_of(c)
            r = upload(c, "/olga/m", {"big.bin": b"\1" * 100_001}, csrf=csrf)
            assert r.status_code == 413 and "big.bin" in r.text
            r = upload(c, "/olga/m", {f"f{i}.bin": b"\1" * 90_000 for i in range(4)}, csrf=csrf)
            assert r.status_code == 413
            r = upload(c, "/olga/m", {"ok.bin": b"\1" * 90_000}, csrf=csrf)
            assert r.status_code == 303
        tmp_dirs = [d for d in server.data_dir.rglob("tmp") if d.is_dir()]
        assert tmp_dirs and all(not any(d.iterdir()) for d in tmp_dirs)  # the refused uploads' temporaries are gone
        files = HfApi(endpoint=server.url).list_repo_files("olga/m")
        assert "ok.bin" in files and "big.bin" not in files and "f0.bin" not in files
    finally:
        stop_server(server)


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_large_upload_is_streamed_to_disk(tmp_path):
    """A 256 MB file through the upload form: the server's peak memory grows far less than the file."""
    server = start_server(tmp_path / "data")
    try:
        server.user("hank", password="hank-password-1")
        HfApi(endpoint=server.url, token=server.user("hank")).create_repo("hank/big")
        big = tmp_path / "big.bin"
        size = 256 * 1024 * 1024
        with open(big, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(size >> 20):
                f.write(block)
        with closing(sign_in(server.url, "hank", "hank-password-1")) as c:
            csrf = csrf_of(c)
            before, start = _peak_rss(server.proc.pid), time.monotonic()
            with open(big, "rb") as f:
                r = c.post("/hank/big/upload/main", data={"csrf": csrf, "summary": "Big"},
                           files=[("files", ("big.bin", f))])
            assert r.status_code == 303, r.text
            seconds, grown = time.monotonic() - start, _peak_rss(server.proc.pid) - before
        print(f"\nupload of {size >> 20} MiB through the web form: {seconds:.1f} s, "
              f"server peak RSS grew {grown / 2**20:.1f} MiB")
        assert grown < 64 * 1024 * 1024
        info = HfApi(endpoint=server.url).model_info("hank/big", files_metadata=True)
        (entry,) = [s for s in info.siblings if s.rfilename == "big.bin"]
        assert entry.size == size and entry.lfs is not None
    finally:
        stop_server(server)


# -- what the pages show --------------------------------------------------------------------------


def test_upload_commit_page_and_diff(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    api.create_repo("erin/diffs")
    weights = safetensors_bytes({"w": ("F32", [64, 32]), "b": ("F32", [32])})
    with closing(sign_in(site.url, "erin", ERIN_PW)) as c:
        csrf = csrf_of(c)
        r = upload(c, "/erin/diffs", {"notes.txt": b"one\ntwo\nthree\n", "model.safetensors": weights,
                                      "blob.bin": b"\0\1\2" * 10}, csrf=csrf, summary="First files")
        assert r.status_code == 303
        sha = r.headers["location"].rsplit("/", 1)[1]
        assert r.headers["location"] == f"/erin/diffs/commit/{sha}"
        commits = api.list_repo_commits("erin/diffs")
        assert commits[0].commit_id == sha and commits[0].title == "First files"
        info = api.model_info("erin/diffs", files_metadata=True)
        lfs = {s.rfilename: s.lfs is not None for s in info.siblings}
        assert lfs == {".gitattributes": False, "notes.txt": False, "model.safetensors": True, "blob.bin": True}
        page = c.get(f"/erin/diffs/commit/{sha}")
        assert page.status_code == 200
        assert "script-src 'none'" in page.headers["content-security-policy"]
        upload_page = c.get("/erin/diffs/upload/main")
        assert "script-src 'self'" in upload_page.headers["content-security-policy"]  # the drop zone's script
        assert "+one" in page.text and "Stored with Git LFS" in page.text and "(none) → 8.5 kB" in page.text
        # an edit: one commit, a text diff with the removed and added lines
        csrf = csrf_of(c, "/erin/diffs/edit/main/notes.txt")
        r = c.post("/erin/diffs/edit/main/notes.txt", data={
            "csrf": csrf, "content": "one\r\n2\r\nthree\r\n", "parent": sha, "summary": "Fix two"})
        assert r.status_code == 303
        sha2 = r.headers["location"].rsplit("/", 1)[1]
        assert api.hf_hub_download("erin/diffs", "notes.txt", revision=sha2, cache_dir=None) and \
            open(api.hf_hub_download("erin/diffs", "notes.txt", revision=sha2), "rb").read() == b"one\n2\nthree\n"
        diff = c.get(f"/erin/diffs/commit/{sha2}").text
        assert re.search(r'class="del"><td><pre>-two</pre>', diff) and re.search(r'class="add"><td><pre>\+2</pre>', diff)
        assert f"/erin/diffs/commit/{sha}" in diff  # its parent
        # a stale form (the branch moved since it was opened) is refused, nothing lost
        r = c.post("/erin/diffs/edit/main/notes.txt", data={"csrf": csrf, "content": "late", "parent": sha})
        assert r.status_code == 412
        # a new file in a folder
        r = c.post("/erin/diffs/new/main", data={"csrf": csrf, "path": "docs/howto.md", "content": "# How\n"})
        assert r.status_code == 303
        assert api.list_repo_commits("erin/diffs")[0].title == "Create docs/howto.md"
        # the commits list links each commit page, and the commit_url the client prints works
        assert f"/erin/diffs/commit/{sha2}" in c.get("/erin/diffs/commits/main").text
    url = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="erin/diffs").commit_url
    assert httpx.get(url).status_code == 200
    assert httpx.get(f"{site.url}/erin/diffs/commit/{'0' * 40}").status_code == 404


def test_card_renders_as_the_hub_does(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    api.create_repo("erin/carded")
    data = ModelCardData(language="en", license="apache-2.0", library_name="transformers",
                         pipeline_tag="text-classification", model_name="carded",
                         eval_results=None)
    card = ModelCard.from_template(data, model_id="carded")
    text = str(card)
    assert text.count("<!--") == 21  # huggingface_hub's standard template
    hostile = ("\n<!-- --><script>alert(1)</script>\n<img src=x onerror=alert(2)>\n"
               "<!-- <b>x</b> --><iframe src='//evil'></iframe>\n[x](javascript:alert(3))\n")
    index = ("---\nlicense: mit\nlibrary_name: transformers\nbase_model: erin/base\n"
             "model-index:\n- name: carded\n  results:\n  - task: {type: text-classification, name: Text Classification}\n"
             "    dataset: {name: IMDB, type: imdb, split: test}\n    metrics:\n    - {type: accuracy, value: 0.9, name: Accuracy}\n"
             "    - {type: f1, value: 0.875}\n"
             f"configs:\n- config_name: default\n  data_files: [{', '.join(f'part{i}.parquet' for i in range(40))}]\n"
             "---\n# Carded\n")
    api.upload_file(path_or_fileobj=text.encode(), path_in_repo="README.md", repo_id="erin/carded")
    page = httpx.get(f"{site.url}/erin/carded").text
    assert "&lt;!--" not in page and "Provide a quick summary" not in page
    assert "Model Details" in page
    assert "<dt title=\"library_name\">Library</dt>" in page and "<dt title=\"license\">License</dt>" in page
    api.upload_file(path_or_fileobj=(index + hostile).encode(), path_in_repo="README.md", repo_id="erin/carded")
    page = httpx.get(f"{site.url}/erin/carded").text
    results = page[page.index("Evaluation results"):page.index("</table>", page.index("Evaluation results"))]
    assert "IMDB" in results and "Accuracy" in results and "<td class=\"value\">0.9</td>" in results
    assert "<td class=\"value\">0.875</td>" in results
    assert "<dt title=\"base_model\">Base model</dt>" in page
    assert re.search(r'<dt title="configs">Configs</dt><dd><details class="meta-json">', page)
    markdown = page[page.index('<div class="markdown">'):]
    for bad in ("<script", "<img src=x", "<iframe", 'href="javascript:'):
        assert bad not in markdown, bad
    assert not re.search(r"<[^>]*onerror", markdown)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown and "&lt;b&gt;x" not in markdown


def test_model_size_and_snippets(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    api.create_repo("erin/sized")
    shard1 = safetensors_bytes({"a": ("F32", [1000, 1000])})
    shard2 = safetensors_bytes({"b": ("BF16", [500, 1000]), "c": ("F32", [10])})
    index = {"metadata": {"total_size": 0}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                             "b": "model-00002-of-00002.safetensors",
                                                             "c": "model-00002-of-00002.safetensors"}}
    for name, body in (("model-00001-of-00002.safetensors", shard1), ("model-00002-of-00002.safetensors", shard2),
                       ("model.safetensors.index.json", json.dumps(index).encode()),
                       ("README.md", b"---\npipeline_tag: text-classification\n---\n# Sized\n")):
        api.upload_file(path_or_fileobj=body, path_in_repo=name, repo_id="erin/sized")
    page = httpx.get(f"{site.url}/erin/sized").text
    assert 'title="1,500,010">1.5M params</dd>' in page
    assert "F32, BF16" in page
    assert f">{(len(shard1) + len(shard2)) / 1e6:.1f} MB in 2 files<" in page
    assert f"export COVE_ENDPOINT={site.url}" in page and f"export HF_ENDPOINT={site.url}" in page
    assert 'pipe = pipeline("text-classification", model="erin/sized")' in page
    assert f"git clone {site.url}/erin/sized" in page


def test_listing_filters_and_sorts(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    cards = {"erin/filt-a": "license: mit\nlanguage: [en, fr]\npipeline_tag: translation\nlibrary_name: cove",
             "erin/filt-b": "license: apache-2.0\nlanguage: de\npipeline_tag: fill-mask"}
    for repo, meta in cards.items():
        api.create_repo(repo)
        api.upload_file(path_or_fileobj=f"---\n{meta}\n---\n".encode(), path_in_repo="README.md", repo_id=repo)
    r = httpx.post(f"{site.url}/api/models/erin/filt-b/like", headers={"Authorization": f"Bearer {site.erin}"})
    assert r.status_code == 200

    def names(query: str) -> list[str]:
        text = httpx.get(f"{site.url}/models?{query}").text
        return [n for n in re.findall(r'href="/(erin/filt-[ab])"', text)]

    assert names("q=filt&license=mit") == ["erin/filt-a"]
    assert names("q=filt&language=fr") == ["erin/filt-a"]
    assert names("q=filt&task=fill-mask") == ["erin/filt-b"]
    assert names("q=filt&library=cove") == ["erin/filt-a"]
    assert names("q=filt&sort=likes")[0] == "erin/filt-b"
    assert names("q=filt&sort=updated")[0] == "erin/filt-b"
    assert names("q=filt&license=mit&task=fill-mask") == []
    page = httpx.get(f"{site.url}/models?q=filt").text
    assert '<option value="translation">' in page and '<option value="apache-2.0">' in page
    assert httpx.get(f"{site.url}/models?sort=random").status_code == 400


def test_password_change_ends_other_sessions(hub):
    hub.user("gina", password="gina-password-1")
    with closing(sign_in(hub.url, "gina", "gina-password-1")) as here, \
            closing(sign_in(hub.url, "gina", "gina-password-1")) as there:
        csrf = csrf_of(here, "/settings/password")
        r = here.post("/settings/password", data={"csrf": csrf, "current": "wrong", "new": "gina-password-2",
                                                 "confirm": "gina-password-2"})
        assert r.status_code == 403
        r = here.post("/settings/password", data={"csrf": csrf, "current": "gina-password-1", "new": "short",
                                                 "confirm": "short"})
        assert r.status_code == 400
        r = here.post("/settings/password", data={"csrf": csrf, "current": "gina-password-1",
                                                 "new": "gina-password-2", "confirm": "gina-password-3"})
        assert r.status_code == 400
        r = here.post("/settings/password", data={"csrf": csrf, "current": "gina-password-1",
                                                 "new": "gina-password-2", "confirm": "gina-password-2"})
        assert r.status_code == 200 and "1 other session signed out" in r.text
        assert here.get("/settings/tokens").status_code == 200  # this browser stays signed in
        assert there.get("/settings/tokens").status_code == 303  # the other one is signed out
    with closing(client(hub.url)) as c:
        csrf = CSRF.search(c.get("/login").text).group(1)
        assert c.post("/login", data={"csrf": csrf, "username": "gina", "password": "gina-password-1"}).status_code == 401
        assert c.post("/login", data={"csrf": csrf, "username": "gina", "password": "gina-password-2"}).status_code == 303


def test_dataset_viewer_shows_float32_at_its_precision(site):
    import pyarrow as pa
    import pyarrow.parquet as pq

    api = HfApi(endpoint=site.url, token=site.erin)
    api.create_repo("erin/floats", repo_type="dataset")
    table = pa.table({"x": pa.array([2.3, 0.1, 1e-7], type=pa.float32()), "y": pa.array([2.3, 0.1, 5.0])})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    api.upload_file(path_or_fileobj=buf.getvalue(), path_in_repo="data/train.parquet", repo_id="erin/floats",
                    repo_type="dataset")
    page = httpx.get(f"{site.url}/datasets/erin/floats").text
    rows = page[page.index('aria-label="Rows"'):]
    assert "2.299999952316284" not in rows and "0.10000000149011612" not in rows
    assert "<td>2.3</td>" in rows and "<td>0.1</td>" in rows and "<td>1e-07</td>" in rows


def test_renamed_repo_redirects_its_old_pages(site):
    api = HfApi(endpoint=site.url, token=site.erin)
    api.create_repo("erin/old-name")
    with closing(sign_in(site.url, "erin", ERIN_PW)) as c:
        csrf = csrf_of(c, "/erin/old-name/settings")
        for value, gated in (("manual", "manual"), ("off", False)):
            r = c.post("/erin/old-name/settings/gated", data={"csrf": csrf, "gated": value})
            assert r.status_code == 303 and api.model_info("erin/old-name").gated == gated
        assert c.post("/erin/old-name/settings/gated", data={"csrf": csrf, "gated": "yes"}).status_code == 400
        r = c.post("/erin/old-name/settings/move", data={"csrf": csrf, "owner": "erin-team", "name": "new-name"})
        assert r.status_code == 303 and r.headers["location"] == "/erin-team/new-name/settings"
        r = c.get("/erin/old-name/tree/main")
        assert r.status_code == 307 and r.headers["location"].endswith("/erin-team/new-name/tree/main")
    assert api.repo_exists("erin-team/new-name")


# -- the first hour in a browser ------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
def test_first_hour_in_the_browser(site, tmp_path):
    from playwright.sync_api import expect

    api = HfApi(endpoint=site.url, token=site.erin)
    dialogs: list[str] = []
    with chromium_page(height=900, dialogs=dialogs) as page:
        base = site.url

        # sign in
        browser_sign_in(page, base, "erin", ERIN_PW)

        # create a model repo in the team's org
        page.get_by_role("link", name="New repo").click()
        page.get_by_label("Owner").select_option("erin-team")
        page.get_by_label("Name", exact=True).fill("first-hour")
        page.get_by_role("button", name="Create repository").click()
        page.wait_for_url(f"{base}/erin-team/first-hour")

        # upload: one file dropped on the zone, one chosen with the picker, one commit
        page.get_by_role("link", name="Files").click()
        page.get_by_role("link", name="Upload files").click()
        page.wait_for_url(f"{base}/erin-team/first-hour/upload/main")
        page.wait_for_load_state("load")  # upload.js has run: the zone listens for drops
        dropped = page.evaluate_handle("""() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["# First hour\\n\\nA model card.\\n"], "README.md", {type: "text/markdown"}));
            return dt;
        }""")
        page.dispatch_event(".dropzone", "drop", {"dataTransfer": dropped})
        expect(page.locator(".drop-list")).to_have_text("README.md")
        weights = tmp_path / "model.safetensors"
        weights.write_bytes(safetensors_bytes({"w": ("F32", [16, 8])}))
        page.get_by_label("Files", exact=True).set_input_files(str(weights))  # the picker replaces its own choice
        page.dispatch_event(".dropzone", "drop", {"dataTransfer": dropped})  # and a drop adds to it
        expect(page.locator(".drop-list")).to_have_text("model.safetensors, README.md")
        page.get_by_label("Commit message").fill("Add the card and weights")
        page.get_by_role("button", name="Commit changes to main").click()
        expect(page.locator("h2.commit-title")).to_have_text("Add the card and weights")
        expect(page.locator("section.diff")).to_have_count(2)
        expect(page.locator("section.diff", has_text="model.safetensors")).to_contain_text("Stored with Git LFS")

        # the card page shows the card, the size and the snippets; edit the card
        page.get_by_role("link", name="Model card").click()
        expect(page.locator(".markdown h1")).to_have_text("First hour")
        expect(page.locator(".weights .params")).to_have_text("128 params")
        expect(page.locator(".snippet-git")).to_have_text(f"git clone {base}/erin-team/first-hour")
        page.get_by_role("link", name="Edit the card").click()
        page.get_by_label("Content").fill("---\nlicense: mit\n---\n# First hour\n\nA tiny model.\n")
        page.get_by_label("Commit message").fill("Describe the model")
        page.get_by_role("button", name="Commit changes to main").click()

        # the commit and its diff
        expect(page.locator("h2.commit-title")).to_have_text("Describe the model")
        expect(page.locator("tr.del")).to_contain_text(["-A model card."])
        expect(page.locator("tr.add")).to_contain_text(["+license: mit"])
        page.screenshot(path=str(tmp_path / "commit.png"), full_page=True)
        page.get_by_role("link", name="Commits").click()
        page.get_by_role("link", name="Describe the model").click()
        expect(page.locator(".sha-full")).to_have_text(api.list_repo_commits("erin-team/first-hour")[0].commit_id)

        # settings: private, then renamed (the old URL redirects), then deleted
        page.get_by_role("link", name="Repo settings").click()
        page.get_by_role("button", name="Make private").click()
        expect(page.locator(".visibility")).to_have_text("private")
        assert api.model_info("erin-team/first-hour").private
        page.get_by_label("New name").fill("second-hour")
        page.get_by_role("button", name="Rename").click()
        page.wait_for_url(f"{base}/erin-team/second-hour/settings")
        page.goto(f"{base}/erin-team/first-hour")
        page.wait_for_url(f"{base}/erin-team/second-hour")
        page.get_by_role("link", name="Repo settings").click()
        page.get_by_label("Repo name").fill("erin-team/wrong")
        page.get_by_role("button", name="Delete erin-team/second-hour").click()
        expect(page.locator("main")).to_contain_text("type the repo's full name")
        assert api.repo_exists("erin-team/second-hour")
        page.go_back()
        page.get_by_label("Repo name").fill("erin-team/second-hour")
        page.get_by_role("button", name="Delete erin-team/second-hour").click()
        page.wait_for_url(f"{base}/erin")
        assert not api.repo_exists("erin-team/second-hour")
        page.goto(f"{base}/erin-team/second-hour")
        expect(page.locator("h1")).to_have_text("Not found")
    assert dialogs == []

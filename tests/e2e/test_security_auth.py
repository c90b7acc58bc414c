"""Who is calling, against a hostile caller: password guessing (rate limits, the event loop, timing),
cross-site requests with a signed-in browser's cookie (CSRF), and credentials that were revoked.

Each test module here starts its own Hub with small limits, so the counters are its own.
"""

from __future__ import annotations

import asyncio
import base64
import re
import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from huggingface_hub import HfApi

from tests.conftest import start_server, stop_server

PASSWORD = "correct-horse-battery"
PER_USER, PER_IP = 3, 6


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A Hub that allows 3 failed sign-ins per user name and 6 per address in a minute."""
    server = start_server(tmp_path_factory.mktemp("auth") / "data", env={
        "COVE_LOGIN_FAILURES_PER_USER": str(PER_USER), "COVE_LOGIN_FAILURES_PER_IP": str(PER_IP),
        "COVE_LOGIN_WINDOW": "60"})
    yield server
    stop_server(server)


def from_address(address: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (any 127.x.y.z is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def whoami(c: httpx.Client, url: str, user: str, secret: str) -> httpx.Response:
    return c.get(f"{url}/api/whoami-v2", auth=(user, secret))


def test_failed_passwords_are_limited_per_user_then_per_address(limited):
    erin = uuid.uuid4().hex[:8]
    limited.user(f"erin{erin}", password=PASSWORD)
    token = limited.token(f"erin{erin}")
    with from_address("127.0.0.2") as c:
        for _ in range(PER_USER):
            assert whoami(c, limited.url, f"erin{erin}", "wrong").status_code == 401
        r = whoami(c, limited.url, f"erin{erin}", PASSWORD)  # locked out: even the right password waits
        assert r.status_code == 429 and r.headers["x-error-code"] == "TooManyRequests"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # git's route answers the same, and a token still works during the lockout
        git = c.get(f"{limited.url}/erin{erin}/x/info/refs?service=git-upload-pack", auth=(f"erin{erin}", "x"))
        assert git.status_code == 429
        assert c.get(f"{limited.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).json()[
            "name"] == f"erin{erin}"
        # other names from the same address: allowed until the address's own limit
        codes = [whoami(c, limited.url, f"nobody{i}{erin}", "wrong").status_code for i in range(PER_IP)]
        assert codes[: PER_IP - PER_USER] == [401] * (PER_IP - PER_USER)
        assert set(codes[PER_IP - PER_USER:]) == {429}
    with from_address("127.0.0.3") as other:  # another address is not limited by the first one's failures
        assert whoami(other, limited.url, f"someone{erin}", "wrong").status_code == 401


def test_a_right_password_is_not_counted(limited):
    name = f"fay{uuid.uuid4().hex[:8]}"
    limited.user(name, password=PASSWORD)
    with from_address("127.0.0.4") as c:
        for _ in range(PER_USER * 2):
            r = whoami(c, limited.url, name, PASSWORD)
            assert r.status_code == 200 and r.json()["name"] == name


def test_the_web_sign_in_form_shares_the_limits(limited):
    name = f"gus{uuid.uuid4().hex[:8]}"
    limited.user(name, password=PASSWORD)
    with httpx.Client(base_url=limited.url, timeout=30,
                      transport=httpx.HTTPTransport(local_address="127.0.0.5")) as c:
        def attempt(password: str) -> httpx.Response:
            form = c.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            return c.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"})

        assert [attempt("wrong").status_code for _ in range(PER_USER)] == [401] * PER_USER
        r = attempt(PASSWORD)
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text and int(r.headers["retry-after"]) >= 1
        assert "cove_session" not in r.cookies


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("auth-free") / "data", env={
        "COVE_LOGIN_FAILURES_PER_USER": "1000000", "COVE_LOGIN_FAILURES_PER_IP": "1000000"})
    yield server
    stop_server(server)


def test_unknown_users_take_as_long_as_known_ones(unlimited):
    """Before: a wrong password for an unknown name answered at once, for a real user after scrypt."""
    unlimited.user("hal", password=PASSWORD)
    unlimited.user("ida")  # no password at all

    users = ["hal", "no-such-user-at-all", "ida"]
    times: dict[str, list[float]] = {u: [] for u in users}
    with httpx.Client(timeout=30) as c:
        for _ in range(15):  # interleaved, so that the machine's load weighs on each name alike
            for user in users:
                start = time.perf_counter()
                assert whoami(c, unlimited.url, user, "wrong-password").status_code == 401
                times[user].append(time.perf_counter() - start)
    known, unknown, no_password = (statistics.median(times[u]) for u in users)
    assert 0.5 < unknown / known < 2, (known, unknown)
    assert 0.5 < no_password / known < 2, (known, no_password)


def test_password_checks_leave_the_event_loop_free(unlimited):
    """A stream of wrong passwords must not hold up anyone else: other requests are answered while
    password checks queue (before: each check ran scrypt on the event loop and everyone waited)."""
    unlimited.user("jon", password=PASSWORD)
    stop = threading.Event()
    checks = []

    def flood() -> None:  # an async route: there, the check used to run on the event loop itself
        with httpx.Client(timeout=60) as c:
            while not stop.is_set():
                r = c.get(f"{unlimited.url}/jon/x/resolve/main/a.txt", auth=("jon", "wrong"))
                checks.append(r.status_code)

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        while len(checks) < 8:
            time.sleep(0.01)
        quick = []
        with httpx.Client(timeout=60) as c:
            started = time.perf_counter()
            while len(quick) < 20:
                t0 = time.perf_counter()
                assert c.get(f"{unlimited.url}/api/models").status_code == 200
                quick.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
        done_meanwhile = len(checks)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert set(checks) == {401}
    # 8 clients keep the password checks saturated the whole time; had scrypt run on the event loop,
    # every listing would wait behind the queued checks (several per listing). Compare with the time
    # one password check takes on this machine, measured in the same run.
    with httpx.Client(timeout=30) as c:
        one_check = min(_timed(lambda: whoami(c, unlimited.url, "jon", "wrong")) for _ in range(3))
    assert statistics.median(quick) < one_check, (statistics.median(quick), one_check, done_meanwhile, elapsed)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_signins_service_keeps_the_loop_responsive(tmp_path):
    """In-process: while 6 password checks run, a 5 ms ticker on the same event loop keeps ticking."""
    from cove.server.services import Hub
    from cove.server.settings import Settings

    hub = Hub(Settings(data_dir=tmp_path / "data"))
    hub.accounts.create_user("kim", password=PASSWORD)

    async def main() -> tuple[float, float]:
        gaps, last, done = [], time.perf_counter(), False

        async def ticker() -> None:
            nonlocal last
            while not done:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        start = time.perf_counter()
        results = await asyncio.gather(*(hub.signins.password("kim", "wrong", "10.0.0.1") for _ in range(6)),
                                       return_exceptions=True)
        total = time.perf_counter() - start
        done = True
        await tick
        assert all(type(r).__name__ == "Unauthorized" for r in results)
        return max(gaps), total

    worst_gap, total = asyncio.run(main())
    assert worst_gap < total / 3, (worst_gap, total)


# -- CSRF: a signed-in browser's cookie only acts from the Hub's own pages ---------------------------


@pytest.fixture(scope="module")
def victim(hub):
    """A user signed in to the web UI (httpx, with the session cookie), their token, a private repo."""
    name = f"vic{uuid.uuid4().hex[:6]}"
    token = hub.user(name, password=PASSWORD)
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo(f"{name}/private-notes", private=True)
    c = httpx.Client(base_url=hub.url, timeout=30, follow_redirects=False)
    form = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    assert c.post("/login", data={"csrf": csrf, "username": name, "password": PASSWORD}).status_code == 303
    yield name, token, api, c
    c.close()


def _commit_body(path: str) -> bytes:
    content = base64.b64encode(b"pwned").decode()
    return (b'{"key": "header", "value": {"summary": "csrf"}}\n'
            + b'{"key": "file", "value": {"path": "%s", "content": "%s", "encoding": "base64"}}\n'
            % (path.encode(), content.encode()))


@pytest.mark.parametrize("headers", [
    {},                                                    # no Origin, no Referer (a stripped request)
    {"origin": "http://127.0.0.1:1"},                      # another port of the same host: same site
    {"origin": "http://evil.example"},
    {"origin": "null"},                                    # sandboxed frames and file:// pages
    {"referer": "http://127.0.0.1:1/attack.html"},
    {"x-csrf-token": "0" * 64},
])
def test_cookie_writes_from_elsewhere_are_refused(hub, victim, headers):
    name, _, api, c = victim
    before = api.model_info(f"{name}/private-notes").sha
    r = c.post(f"/api/models/{name}/private-notes/commit/main", content=_commit_body("pwned.txt"),
               headers={"content-type": "text/plain", **headers})
    assert r.status_code in (401, 404), r.text  # acting as nobody: the private repo is not even there
    r = c.post("/api/repos/create", json={"name": f"csrf-{uuid.uuid4().hex[:6]}"}, headers=headers)
    assert r.status_code == 401, r.text
    assert api.model_info(f"{name}/private-notes").sha == before


def test_cookie_reads_and_same_origin_writes_still_work(hub, victim):
    name, token, api, c = victim
    assert c.get(f"/api/models/{name}/private-notes").status_code == 200  # reads: the cookie counts
    assert c.get("/api/whoami-v2").json()["name"] == name
    r = c.post(f"/api/models/{name}/private-notes/commit/main", content=_commit_body("from-origin.txt"),
               headers={"content-type": "application/x-ndjson", "origin": hub.url})
    assert r.status_code == 200, r.text
    r = c.post(f"/api/models/{name}/private-notes/commit/main", content=_commit_body("from-referer.txt"),
               headers={"content-type": "application/x-ndjson", "referer": f"{hub.url}/{name}/private-notes"})
    assert r.status_code == 200, r.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/settings/tokens").text).group(1)
    r = c.post(f"/api/models/{name}/private-notes/commit/main", content=_commit_body("from-token.txt"),
               headers={"content-type": "application/x-ndjson", "x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    files = set(api.list_repo_files(f"{name}/private-notes"))
    assert {"from-origin.txt", "from-referer.txt", "from-token.txt"} <= files
    # a token is no cookie: another origin does not matter to it
    r = httpx.post(f"{hub.url}/api/repos/create", json={"name": f"tok-{uuid.uuid4().hex[:6]}"},
                   headers={"authorization": f"Bearer {token}", "origin": "http://evil.example"})
    assert r.status_code == 200, r.text


def test_a_page_on_another_port_cannot_commit_with_the_victims_cookie(hub, victim, tmp_path):
    """The review's attack in a real browser: the victim is signed in; a page served from another port
    of the same host (same site, so the SameSite=Lax cookie is sent) posts a commit with fetch()."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    name, _, api, c = victim
    before = api.model_info(f"{name}/private-notes").sha
    attack = f"""<!doctype html><script>
    fetch("{hub.url}/api/models/{name}/private-notes/commit/main", {{
      method: "POST", credentials: "include", mode: "no-cors", headers: {{"content-type": "text/plain"}},
      body: {_commit_body("browser-pwned.txt").decode()!r}}}).finally(() => document.title = "sent");
    </script>"""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(attack.encode())

        def log_message(self, *args):
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context()
            session = c.cookies.get("cove_session")
            context.add_cookies([{"name": "cove_session", "value": session, "url": hub.url,
                                  "httpOnly": True, "sameSite": "Lax"}])
            page = context.new_page()
            page.goto(f"{hub.url}/{name}/private-notes")  # the victim can see their repo
            assert "private-notes" in page.content()
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
            page.wait_for_function("document.title === 'sent'", timeout=15000)
            browser.close()
    finally:
        evil.shutdown()
    assert api.model_info(f"{name}/private-notes").sha == before
    assert "browser-pwned.txt" not in api.list_repo_files(f"{name}/private-notes")


# -- revoked credentials ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("workers") / "data",
                          env={"COVE_WORKERS": "2", "COVE_LFS_UPLOADS": "lfs"})
    yield server
    stop_server(server)


def test_a_revoked_token_stops_at_once_in_every_worker(two_workers):
    server = two_workers
    server.user("lea", password=PASSWORD)
    token = server.token("lea")
    with httpx.Client(timeout=30) as c:
        for _ in range(10):  # both workers have seen (and, before, cached) the token
            assert c.get(f"{server.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).status_code == 200
        _revoke_all(server, "lea", token)
        codes = {c.get(f"{server.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).status_code
                 for _ in range(20)}
    assert codes == {401}


def test_a_leaked_token_is_revoked_by_whoever_holds_it(two_workers, monkeypatch):
    """huggingface_hub 2.5's ``revoke_tokens``: no Authorization (holding the value is the proof), the
    token dies in every worker, its owner's other tokens live, and the answer says nothing about which
    values were tokens."""
    import json

    import huggingface_hub.constants
    from huggingface_hub import revoke_tokens

    server = two_workers
    server.user("lin")
    leaked, kept = server.token("lin"), server.token("lin")
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", server.url)
    revoke_tokens([leaked, "cove_" + "x" * 40, "hf_not-ours", leaked])
    revoke_tokens([leaked])  # again: the same answer
    with httpx.Client(base_url=server.url, timeout=30) as c:
        codes = {c.get("/api/whoami-v2", headers={"authorization": f"Bearer {leaked}"}).status_code for _ in range(10)}
        assert codes == {401}
        assert c.get("/api/whoami-v2", headers={"authorization": f"Bearer {kept}"}).status_code == 200
        for bad in ("cove_x", [], [1], ["a" * 257], [""], ["cove_x"] * 1001, None):
            r = c.post("/api/credentials/revoke", json={"credentials": bad})
            assert r.status_code == 400, (bad, r.text)
        assert c.post("/api/credentials/revoke", json=["cove_x"]).status_code == 400
        admin = server.user("lin-admin", admin=True)
        log = c.get("/api/admin/audit", params={"action": "token.revoke"},
                    headers={"authorization": f"Bearer {admin}"})
    revoked = [e for e in map(json.loads, log.text.splitlines()) if e["target"].startswith("lin/")]  # a shared Hub
    assert [(e["target"], e["actor"], e["detail"]) for e in revoked] == [
        ("lin/cli", None, {"via": "revoke request"})], revoked


def _revoke_all(server, user: str, token: str) -> None:
    """Revoke ``token`` through the web settings page, as its owner would."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        form = c.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        assert c.post("/login", data={"csrf": csrf, "username": user, "password": PASSWORD}).status_code == 303
        page = c.get("/settings/tokens").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        ids = re.findall(r'/settings/tokens/(\d+)/revoke', page)
        assert ids
        for token_id in ids:
            assert c.post(f"/settings/tokens/{token_id}/revoke", data={"csrf": csrf}).status_code == 303


def test_lfs_urls_die_with_the_token_that_asked_for_them(two_workers):
    server = two_workers
    server.user("max", password=PASSWORD)
    token = server.token("max")
    api = HfApi(endpoint=server.url, token=token)
    api.create_repo("max/weights")
    data = b"w" * 1000
    import hashlib

    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(f"{server.url}/max/weights.git/info/lfs/objects/batch",
                       headers={"authorization": f"Bearer {token}", "accept": "application/vnd.git-lfs+json"},
                       json={"operation": "upload", "transfers": ["basic"],
                             "objects": [{"oid": oid, "size": len(data)}]}).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    _revoke_all(server, "max", token)
    r = httpx.put(href, content=data)
    assert r.status_code == 403 and "revoked" in r.headers["x-error-message"]


def test_read_only_tokens_cannot_like(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/likeable-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    read_only = hub.token("alice", read_only=True)
    r = httpx.post(f"{hub.url}/api/models/{repo}/like", headers={"authorization": f"Bearer {read_only}"})
    assert r.status_code == 403 and r.headers["x-error-code"] == "Forbidden"
    assert api.model_info(repo).likes == 0
    assert httpx.post(f"{hub.url}/api/models/{repo}/like",
                      headers={"authorization": f"Bearer {alice}"}).status_code == 200
    assert api.model_info(repo).likes == 1

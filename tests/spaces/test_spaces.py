"""Spaces end to end with the stock clients: a Gradio Space pushed with huggingface_hub is built (its
venv from the wheelhouse), runs sandboxed, and answers gradio_client and a headless browser through
the Hub's proxy; a static Space is served from its checkout; runtime, restart, pause, sleep and wake,
secrets and variables, logs, and private Spaces' 404 to outsiders."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from tests.browser import chromium_page, needs_chromium
from tests.spaces.conftest import GRADIO_APP, PASSWORD, card, push_space, sign_in, wait_stage


@pytest.fixture(scope="module")
def gradio_space(api) -> str:
    """One Gradio Space for the module (built once)."""
    repo_id = "spacer/shout"
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": GRADIO_APP})
    wait_stage(api, repo_id, ("RUNNING",), timeout=600)
    return repo_id


def predict(space_hub, token: str, repo_id: str, text: str) -> str:
    """``gradio_client.Client(repo_id, token=...).predict(text)`` as a user runs it: in a fresh process with
    ``HF_ENDPOINT`` set to the Hub (huggingface_hub reads it at import)."""
    code = ("import sys; from gradio_client import Client; "
            "print(Client(sys.argv[1], token=sys.argv[2], verbose=False).predict(sys.argv[3], api_name='/shout'))")
    env = {**os.environ, "HF_ENDPOINT": space_hub.url, "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-c", code, repo_id, token, text], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_space_info_reports_host_and_runtime(space_hub, api, gradio_space):
    info = api.space_info(gradio_space)
    assert info.host == f"{space_hub.url}/-/spaces/{gradio_space}/"
    assert info.runtime.stage == "RUNNING" and info.runtime.hardware == "cpu-basic"
    assert info.sdk == "gradio"


def test_gradio_client_predicts_through_the_proxy(space_hub, owner, gradio_space):
    assert predict(space_hub, owner, gradio_space, "hello") == "HELLO!"


def test_the_proxy_redirects_the_bare_prefix_and_sandboxes_the_app(space_hub, gradio_space):
    bare = httpx.get(f"{space_hub.url}/-/spaces/{gradio_space}")
    assert bare.status_code == 307 and bare.headers["location"].endswith(f"/-/spaces/{gradio_space}/")
    page = httpx.get(f"{space_hub.url}/-/spaces/{gradio_space}/", timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    csp = page.headers["content-security-policy"]
    assert csp.startswith("sandbox ") and "allow-same-origin" not in csp
    config = httpx.get(f"{space_hub.url}/-/spaces/{gradio_space}/config", timeout=30).json()
    assert config["root"] == f"{space_hub.url}/-/spaces/{gradio_space}"  # the prefix in X-Forwarded-Host


def shout_in_browser(page, url: str, text: str) -> str:
    """On the Space page at ``url``: type ``text`` into the embedded app, click Submit, return the answer."""
    page.goto(url)  # the Space's page embeds the app
    app = page.frame_locator("iframe#space-app")
    app.locator("textarea").first.fill(text, timeout=60_000)
    app.get_by_role("button", name="Submit").click()
    answer = app.locator("textarea").nth(1)
    deadline = time.monotonic() + 60
    while answer.input_value() != text.upper() + "!" and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    return answer.input_value()


@needs_chromium
def test_browser_types_submits_and_reads_the_answer(space_hub, owner, gradio_space, tmp_path):
    with chromium_page() as page:
        assert shout_in_browser(page, f"{space_hub.url}/spaces/{gradio_space}", "from the browser") == "FROM THE BROWSER!"
        page.screenshot(path=str(tmp_path / "space.png"))


def test_static_space_is_served_from_its_checkout(space_hub, api):
    repo_id = "spacer/page"
    push_space(api, repo_id, {"README.md": card("static"), "index.html": "<h1>Static hello</h1>",
                              "css/site.css": "h1 {color: red}"}, sdk="static")
    wait_stage(api, repo_id, ("RUNNING",), timeout=60)
    base = f"{space_hub.url}/-/spaces/{repo_id}/"
    page = httpx.get(base)
    assert page.status_code == 200 and "Static hello" in page.text
    assert "allow-same-origin" not in page.headers["content-security-policy"]
    assert httpx.get(base + "css/site.css").text == "h1 {color: red}"
    assert httpx.get(base + "../../../../cove.db").status_code == 404
    assert httpx.get(base + "%2e%2e/%2e%2e/cove.db").status_code == 404


def test_private_space_is_404_to_outsiders_on_page_api_and_proxy(space_hub, api):
    repo_id = "spacer/hidden"
    push_space(api, repo_id, {"README.md": card("static"), "index.html": "secret page"}, sdk="static", private=True)
    wait_stage(api, repo_id, ("RUNNING",), timeout=60)
    outsider = space_hub.user("spaces-outsider")
    for token in (None, outsider):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/", headers=headers).status_code == 404
        assert httpx.get(f"{space_hub.url}/spaces/{repo_id}", headers=headers).status_code == 404
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=space_hub.url, token=token or False).get_space_runtime(repo_id)
    owner = api.token
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/", headers={"Authorization": f"Bearer {owner}"}).text == "secret page"
    # gradio_client's way: X-HF-Authorization, never Authorization, to the app
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/",
                     headers={"X-HF-Authorization": f"Bearer {owner}"}).text == "secret page"


def test_variables_and_secrets_reach_the_app_and_secrets_are_never_shown(space_hub, owner, api, gradio_space):
    api.add_space_variable(gradio_space, "GREETING", "hi there", description="shown")
    api.add_space_secret(gradio_space, "API_KEY", "s3cr3t-value")
    variables = api.get_space_variables(gradio_space)
    assert variables["GREETING"].value == "hi there"
    secrets = httpx.get(f"{space_hub.url}/api/spaces/{gradio_space}/secrets",
                        headers={"Authorization": f"Bearer {owner}"}).json()
    assert "API_KEY" in secrets and "s3cr3t-value" not in str(secrets)
    time.sleep(1.5)  # the change restarts the app
    wait_stage(api, gradio_space, ("RUNNING",), timeout=120)
    assert predict(space_hub, owner, gradio_space, "env") == "hi there|secret set"
    api.delete_space_secret(gradio_space, "API_KEY")
    api.delete_space_secret(gradio_space, "NEVER_SET")  # a missing key is not an error
    assert "GREETING" not in api.delete_space_variable(gradio_space, "GREETING")


def test_sleep_then_wake_on_the_next_request(space_hub, owner, api, gradio_space):
    """Asleep, the app is frozen first (it thaws at once), then stopped once it slept long enough
    (COVE_SPACES_DEEP_SLEEP_SECONDS, 3 s here): the next request starts it again and is held till it answers."""
    import sqlite3

    def port() -> int:
        with sqlite3.connect(space_hub.data_dir / "cove.db") as db:
            return db.execute("select s.port from space_states s join repos r on r.id = s.repo_id where "
                              "r.namespace = 'spacer' and r.name = 'shout'").fetchone()[0]

    wait_stage(api, gradio_space, ("RUNNING",), timeout=120)
    runtime = api.set_space_sleep_time(gradio_space, 2)
    assert runtime.sleep_time == 2
    wait_stage(api, gradio_space, ("SLEEPING",), timeout=120)
    assert port() != 0  # frozen: the process is there
    started = time.monotonic()
    assert httpx.get(f"{space_hub.url}/-/spaces/{gradio_space}/config", timeout=120).status_code == 200
    print(f"wake from a frozen sleep: {time.monotonic() - started:.2f} s")
    wait_stage(api, gradio_space, ("SLEEPING",), timeout=120)
    deadline = time.monotonic() + 30
    while port() != 0 and time.monotonic() < deadline:  # deep sleep: the process is stopped
        time.sleep(0.3)
    assert port() == 0 and api.get_space_runtime(gradio_space).stage == "SLEEPING"
    started = time.monotonic()  # the Space's page wakes the app as it loads, before its iframe asks
    assert httpx.get(f"{space_hub.url}/spaces/{gradio_space}").status_code == 200
    wait_stage(api, gradio_space, ("APP_STARTING", "RUNNING"), timeout=30)
    assert httpx.get(f"{space_hub.url}/-/spaces/{gradio_space}/config", timeout=120).status_code == 200
    print(f"wake from a deep sleep (the app starts again): {time.monotonic() - started:.2f} s")
    assert api.get_space_runtime(gradio_space).stage == "RUNNING"
    assert predict(space_hub, owner, gradio_space, "awake") == "AWAKE!"
    api.set_space_sleep_time(gradio_space, -1)
    assert api.get_space_runtime(gradio_space).sleep_time is None


def test_pause_then_restart(space_hub, api, gradio_space):
    assert api.pause_space(gradio_space).stage == "PAUSED"
    assert httpx.get(f"{space_hub.url}/-/spaces/{gradio_space}/").status_code == 503
    time.sleep(1.5)
    assert api.get_space_runtime(gradio_space).stage == "PAUSED"
    assert api.restart_space(gradio_space).stage in ("BUILDING", "APP_STARTING", "RUNNING")
    wait_stage(api, gradio_space, ("RUNNING",), timeout=120)


def test_logs_stream_build_and_run(api, gradio_space):
    build = list(api.fetch_space_logs(gradio_space, build=True))
    assert any("Environment" in line or "pip install" in line for line in build)
    assert any("Build finished" in line for line in build)
    # RUNNING is set when the app's port answers; Gradio prints "Running on" just after it has bound the
    # port, and the output pump copies it a moment later: read the run log until the line is there
    deadline = time.monotonic() + 30
    while not any("Running on" in line for line in api.fetch_space_logs(gradio_space)):
        assert time.monotonic() < deadline, list(api.fetch_space_logs(gradio_space))
        time.sleep(0.5)


def test_only_writers_manage_a_space(space_hub, gradio_space):
    outsider = HfApi(endpoint=space_hub.url, token=space_hub.user("spaces-outsider"))
    for call in (outsider.restart_space, outsider.pause_space, outsider.get_space_variables):
        with pytest.raises(Exception) as err:
            call(gradio_space)
        assert err.value.response.status_code in (401, 403)
    with pytest.raises(Exception) as err:
        HfApi(endpoint=space_hub.url, token=space_hub.user("spacer")).add_space_secret(gradio_space, "1BAD", "x")
    assert err.value.response.status_code == 400


def test_duplicate_space_copies_files_and_takes_new_variables(space_hub, owner, api, gradio_space):
    url = api.duplicate_repo(gradio_space, "spacer/shout-copy", repo_type="space",
                             space_variables=[{"key": "GREETING", "value": "copied"}])
    assert str(url) == f"{space_hub.url}/spaces/spacer/shout-copy"
    assert {s.rfilename for s in api.space_info("spacer/shout-copy").siblings} >= {"app.py", "README.md"}
    wait_stage(api, "spacer/shout-copy", ("RUNNING",), timeout=300)
    assert predict(space_hub, owner, "spacer/shout-copy", "env") == "copied|no secret"  # secrets are not copied
    again = api.duplicate_repo(gradio_space, "spacer/shout-copy", repo_type="space", exist_ok=True)
    assert str(again) == str(url)


def test_seeded_spaces_run(space_hub, api, tmp_path):
    """The seed's two Spaces, as ``cove seed`` publishes them: the static page serves, the Gradio demo
    starts (its answer needs the seeded model, which this Hub does not have: the app says so)."""
    from cove.seed.spaces import build_sentiment_demo, build_welcome

    for name, build, sdk in (("welcome", build_welcome, "static"), ("sentiment-demo", build_sentiment_demo, "gradio")):
        folder = tmp_path / name
        folder.mkdir()
        build(folder)
        files = {p.name: p.read_text() for p in folder.iterdir()}
        push_space(api, f"spacer/{name}", files, sdk=sdk)
    wait_stage(api, "spacer/welcome", ("RUNNING",), timeout=60)
    assert "Welcome to Cove" in httpx.get(f"{space_hub.url}/-/spaces/spacer/welcome/").text
    wait_stage(api, "spacer/sentiment-demo", ("RUNNING",), timeout=300)
    assert api.space_info("spacer/sentiment-demo").sdk == "gradio"
    assert "Sentiment demo" in httpx.get(f"{space_hub.url}/-/spaces/spacer/sentiment-demo/config", timeout=60).text


@pytest.mark.spaces_full
@needs_chromium
def test_streamlit_space_in_a_browser_through_the_websocket_relay(space_hub, api, tmp_path):
    """Streamlit (installed from the index on first use: minutes) behind --server.baseUrlPath; its page
    talks to the app over a websocket, relayed by the proxy."""
    repo_id = "spacer/streamer"
    app = 'import streamlit as st\nname = st.text_input("Name", "world")\nst.write(f"Hello {name} from Streamlit")\n'
    push_space(api, repo_id, {"README.md": card("streamlit"), "app.py": app}, sdk="streamlit")
    wait_stage(api, repo_id, ("RUNNING",), timeout=900)
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/_stcore/health", timeout=30).text == "ok"
    with chromium_page() as page:
        page.goto(f"{space_hub.url}/spaces/{repo_id}")
        app_frame = page.frame_locator("iframe#space-app")
        app_frame.get_by_text("Hello world from Streamlit").wait_for(timeout=60_000)
        app_frame.get_by_label("Name").fill("Cove")
        app_frame.get_by_label("Name").press("Enter")
        app_frame.get_by_text("Hello Cove from Streamlit").wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "streamlit.png"))


@needs_chromium
def test_private_gradio_space_works_in_its_viewers_browser(space_hub, owner, api, gradio_space, tmp_path):
    """The app's opaque-origin frame sends no cookie: the page's iframe loads the app under a grant
    (viewer, Space, expiry; signed) in the path, which gradio keeps in its root URL. The grant is not a
    Hub token, does not open another Space, expires, and is never sent on as a Referer."""
    import hashlib
    import hmac
    import re

    from tests.browser import browser_sign_in

    api.update_repo_settings(gradio_space, private=True, repo_type="space")
    try:
        c = sign_in(space_hub.url, "spacer")
        src = re.search(r'<iframe id="space-app" src="([^"]+)"', c.get(f"/spaces/{gradio_space}").text).group(1)
        assert src.startswith(f"/-/spaces/{gradio_space}/~grant/") and src.endswith("/")
        token = src.split("/")[-2]
        anonymous = httpx.Client(base_url=space_hub.url, timeout=30)
        assert anonymous.get(f"/-/spaces/{gradio_space}/config").status_code == 404  # outsiders: as before
        config = anonymous.get(f"{src}config")
        assert config.status_code == 200 and config.headers["referrer-policy"] == "no-referrer"
        assert config.json()["root"] == f"{space_hub.url}{src[:-1]}"  # the app's API calls keep the grant
        # not for another Space, not a Hub token, not once expired, not forged
        push_space(api, "spacer/hidden-grant", {"README.md": card("static"), "index.html": "x"}, sdk="static",
                   private=True)
        wait_stage(api, "spacer/hidden-grant", ("RUNNING",), timeout=60)
        assert anonymous.get(f"/-/spaces/spacer/hidden-grant/~grant/{token}/").status_code == 404
        assert anonymous.get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        user, repo, _, _ = token.split(".")
        secret = (space_hub.data_dir / "secret").read_text().strip().encode()
        expired = f"{user}.{repo}.{int(time.time()) - 1}"
        expired += "." + hmac.new(secret, b"space-grant:" + expired.encode(), hashlib.sha256).hexdigest()[:40]
        forged = f"{user}.{repo}.{int(time.time()) + 9999}.{token.rsplit('.', 1)[1]}"
        for bad in (expired, forged, "junk"):
            assert anonymous.get(f"/-/spaces/{gradio_space}/~grant/{bad}/config").status_code == 404

        with chromium_page() as page:
            browser_sign_in(page, space_hub.url, "spacer", PASSWORD)
            assert shout_in_browser(page, f"{space_hub.url}/spaces/{gradio_space}", "private hello") == "PRIVATE HELLO!"
            page.screenshot(path=str(tmp_path / "private-space.png"))
    finally:
        api.update_repo_settings(gradio_space, private=False, repo_type="space")

"""A Hub of the Space tests' own (short timeouts, small limits, the wheelhouse in the test asset cache so
Gradio is downloaded once per machine), and helpers to push a Space and wait for a stage."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from huggingface_hub import HfApi

from tests.conftest import HubServer, spaces_asset_env, start_server, stop_server

#: A Gradio app: shouts its input; "env" answers with what the Space's settings gave it.
GRADIO_APP = '''import os
import gradio as gr

def shout(text):
    if text == "env":
        return f"{os.environ.get('GREETING', '-')}|{'secret set' if os.environ.get('API_KEY') else 'no secret'}"
    return text.upper() + "!"

gr.Interface(shout, "textbox", "textbox").launch()
'''

#: A plain app for the fault cases: answers every GET with BODY on the port the runner gives it.
PLAIN_APP = '''import http.server, os, threading
PORT = int(os.environ["GRADIO_SERVER_PORT"])
BODY = "ok"
{before}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = BODY.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
{after}
threading.Event().wait()
'''


def card(sdk: str, **extra: str) -> str:
    lines = [f"sdk: {sdk}"] + [f"{k}: {v}" for k, v in extra.items()]
    return "---\n" + "\n".join(lines) + "\n---\n# A test Space\n"


@pytest.fixture(scope="session")
def space_hub(tmp_path_factory) -> HubServer:
    """The Space tests' Hub. Its wheelhouse and venvs live in the test asset cache: the first run on a
    machine downloads Gradio and builds its venv (about two minutes), later runs reuse both."""
    limits = {"COVE_SPACES_STARTUP_TIMEOUT": "90", "COVE_SPACES_MEMORY_MB": "1024", "COVE_SPACES_LOG_BYTES": "200000",
              "COVE_SPACES_BUILD_TIMEOUT": "900", "COVE_SPACES_DEEP_SLEEP_SECONDS": "3"}
    server = start_server(tmp_path_factory.mktemp("spaces-hub") / "data", env={**spaces_asset_env(), **limits})
    try:
        yield server
    finally:
        stop_server(server)


#: The password of the Space tests' users who sign in to the web UI.
PASSWORD = "space-owner-pass-1"


@pytest.fixture(scope="session")
def owner(space_hub) -> str:
    return space_hub.user("spacer", password=PASSWORD)


def sign_in(url: str, name: str) -> httpx.Client:
    """An httpx client signed in to the web UI as ``name`` (whose password is PASSWORD)."""
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"csrf": csrf, "username": name, "password": PASSWORD, "next": "/"}).status_code == 303
    return c


@pytest.fixture(scope="session")
def api(space_hub, owner) -> HfApi:
    return HfApi(endpoint=space_hub.url, token=owner)


def push_space(api: HfApi, repo_id: str, files: dict[str, str], *, sdk: str = "gradio", private: bool = False) -> str:
    """Create the Space (if new) and commit ``files``; the new commit's sha."""
    api.create_repo(repo_id, repo_type="space", space_sdk=sdk, private=private, exist_ok=True)
    from huggingface_hub import CommitOperationAdd

    ops = [CommitOperationAdd(path, content.encode()) for path, content in files.items()]
    return api.create_commit(repo_id, ops, commit_message="app", repo_type="space").oid


def wait_stage(api: HfApi, repo_id: str, stages: tuple[str, ...], timeout: float = 300):
    """The runtime once its stage is one of ``stages``."""
    deadline = time.monotonic() + timeout
    runtime = None
    while time.monotonic() < deadline:
        runtime = api.get_space_runtime(repo_id)
        if runtime.stage in stages:
            return runtime
        time.sleep(0.3)
    raise AssertionError(f"{repo_id} never reached {stages}: last {runtime.raw if runtime else None}")

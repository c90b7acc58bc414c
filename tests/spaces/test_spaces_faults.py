"""Spaces that go wrong, each in the way the issue lists: the stage and the log say why, and the Hub and
the other Spaces keep serving. The apps are plain HTTP servers on the port the runner gives (sdk gradio:
the runner runs ``python app.py``; they share the Gradio Space's environment, so nothing is installed)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.spaces.conftest import PLAIN_APP, card, push_space, wait_stage

ERRORS = ("RUNTIME_ERROR", "BUILD_ERROR", "CONFIG_ERROR", "NO_APP_FILE")


def plain(before: str = "", after: str = "") -> str:
    return PLAIN_APP.replace("{before}", before).replace("{after}", after)


@pytest.fixture(scope="module")
def healthy(api) -> str:
    repo_id = "spacer/healthy"
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": plain('BODY = "still here"')})
    wait_stage(api, repo_id, ("RUNNING",), timeout=600)
    return repo_id


def still_serving(space_hub, healthy: str) -> None:
    assert httpx.get(f"{space_hub.url}/api/spaces/{healthy}/runtime").json()["stage"] == "RUNNING"
    assert httpx.get(f"{space_hub.url}/-/spaces/{healthy}/", timeout=30).text == "still here"


def test_bad_requirement_is_a_build_error(space_hub, api, healthy):
    repo_id = "spacer/badreq"
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": plain(),
                              "requirements.txt": "cove-no-such-package-anywhere==9.9.9\n"})
    runtime = wait_stage(api, repo_id, ERRORS, timeout=300)
    assert runtime.stage == "BUILD_ERROR" and "pip download" in runtime.raw["errorMessage"]
    deadline = time.monotonic() + 60
    while not any("cove-no-such-package-anywhere" in line for line in api.fetch_space_logs(repo_id, build=True)):
        assert time.monotonic() < deadline, list(api.fetch_space_logs(repo_id, build=True))[-20:]
        time.sleep(1)
    still_serving(space_hub, healthy)


def test_missing_app_file_and_bad_config(space_hub, api, healthy):
    push_space(api, "spacer/noapp", {"README.md": card("gradio", app_file="main.py"), "app.py": plain()})
    assert wait_stage(api, "spacer/noapp", ERRORS, timeout=60).stage == "NO_APP_FILE"
    push_space(api, "spacer/badsdk", {"README.md": card("gradio", python_version="'banana'"), "app.py": plain()})
    assert wait_stage(api, "spacer/badsdk", ERRORS, timeout=60).stage == "CONFIG_ERROR"


def test_app_crashing_at_start(space_hub, api, healthy):
    repo_id = "spacer/crash-start"
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": 'raise SystemExit("boom at start")\n'})
    runtime = wait_stage(api, repo_id, ERRORS, timeout=120)
    assert runtime.stage == "RUNTIME_ERROR" and "boom at start" in runtime.raw["errorMessage"]
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/").status_code == 503
    still_serving(space_hub, healthy)


def test_app_crashing_later(space_hub, api, healthy):
    repo_id = "spacer/crash-later"
    push_space(api, repo_id, {"README.md": card("gradio"),
                              "app.py": plain(after='import time, os\ntime.sleep(3)\nprint("going down")\nos._exit(3)')})
    wait_stage(api, repo_id, ("RUNNING",) + ERRORS, timeout=120)
    runtime = wait_stage(api, repo_id, ERRORS, timeout=60)
    assert runtime.stage == "RUNTIME_ERROR" and "exit code 3" in runtime.raw["errorMessage"], runtime.raw
    still_serving(space_hub, healthy)


def test_app_that_never_opens_its_port(space_hub, api, healthy):
    repo_id = "spacer/no-port"
    push_space(api, repo_id, {"README.md": card("gradio", startup_duration_timeout="3s"),
                              "app.py": "import time\ntime.sleep(600)\n"})
    runtime = wait_stage(api, repo_id, ERRORS, timeout=120)
    assert runtime.stage == "RUNTIME_ERROR" and "did not open its port within 3 s" in runtime.raw["errorMessage"]


def test_app_printing_forever_has_its_log_capped(space_hub, api, healthy):
    repo_id = "spacer/chatty"
    push_space(api, repo_id, {"README.md": card("gradio"),
                              "app.py": plain(after='while True:\n    print("x" * 1000, flush=True)')})
    wait_stage(api, repo_id, ("RUNNING",), timeout=120)
    time.sleep(3)
    log = _run_log(space_hub, repo_id)
    assert log.stat().st_size <= 200_000
    time.sleep(1)
    assert log.stat().st_size <= 200_000
    assert "log cut at 200000 bytes" in log.read_text()
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/", timeout=30).text == "ok"  # the app still answers
    still_serving(space_hub, healthy)


def _run_log(space_hub, repo_id: str):
    for log in space_hub.data_dir.glob("spaces/*/run.log"):
        if "log cut" in log.read_text(errors="replace")[-400:]:
            return log
    raise AssertionError(f"no capped run log for {repo_id}")


def test_app_allocating_without_bound_hits_the_memory_limit(space_hub, api, healthy):
    repo_id = "spacer/hungry"
    push_space(api, repo_id, {"README.md": card("gradio"),
                              "app.py": plain(after="chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))")})
    runtime = wait_stage(api, repo_id, ERRORS, timeout=120)
    assert runtime.stage == "RUNTIME_ERROR"
    assert "MemoryError" in runtime.raw["errorMessage"] or "signal" in runtime.raw["errorMessage"]
    still_serving(space_hub, healthy)


def test_app_cannot_read_the_hub_data_dir(space_hub, api, healthy):
    repo_id = "spacer/nosy"
    data = space_hub.data_dir
    probe = f'''
def probe(path):
    try:
        with open(path, "rb") as f:
            return f"READ {{len(f.read(100))}} bytes"
    except OSError as e:
        return f"refused ({{type(e).__name__}})"
BODY = probe({str(data / "cove.db")!r}) + " / " + probe({str(data / "secret")!r})
'''
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": plain(probe)})
    wait_stage(api, repo_id, ("RUNNING",), timeout=120)
    body = httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/", timeout=30).text
    assert body.startswith("refused") and "READ" not in body, body


def test_push_while_building_cancels_and_builds_the_new_commit(space_hub, api, healthy):
    repo_id = "spacer/twice"
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": plain('BODY = "first"'),
                              "requirements.txt": "six\n"})
    time.sleep(0.5)
    runtime = api.get_space_runtime(repo_id)
    assert runtime.stage == "BUILDING"
    push_space(api, repo_id, {"requirements.txt": "", "app.py": plain('BODY = "second"')})
    wait_stage(api, repo_id, ("RUNNING",), timeout=300)
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/", timeout=30).text == "second"


def test_deleting_a_space_stops_its_app_and_removes_its_folder(space_hub, api, healthy):
    repo_id = "spacer/doomed"
    push_space(api, repo_id, {"README.md": card("gradio"), "app.py": plain('BODY = "doomed"')})
    wait_stage(api, repo_id, ("RUNNING",), timeout=120)
    mine = [p.parents[2] for p in (space_hub.data_dir / "spaces").glob("*/src/*/app.py") if "doomed" in p.read_text()]
    assert len(mine) == 1
    api.delete_repo(repo_id, repo_type="space")
    deadline = time.monotonic() + 30
    while mine[0].exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not mine[0].exists()
    assert httpx.get(f"{space_hub.url}/-/spaces/{repo_id}/").status_code == 404
    still_serving(space_hub, healthy)

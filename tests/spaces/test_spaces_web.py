"""A Space's page and its owner's controls in the web UI: the status badge and the embedded app, and the
settings forms (sleep time, variables, secrets, pause, restart), each with the page's CSRF token."""

from __future__ import annotations

import re

import httpx

from tests.spaces.conftest import PASSWORD, card, push_space, sign_in, wait_stage


def test_space_page_and_owner_settings(space_hub):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=space_hub.url, token=space_hub.user("webspacer", password=PASSWORD))
    repo_id = "webspacer/site"
    push_space(api, repo_id, {"README.md": card("static"), "index.html": "<p>hi</p>"}, sdk="static")
    wait_stage(api, repo_id, ("RUNNING",), timeout=60)
    listing = httpx.get(f"{space_hub.url}/spaces?q=site").text
    assert f">{repo_id}</a>" in listing and 'class="badge stage stage-running">RUNNING<' in listing
    page = httpx.get(f"{space_hub.url}/spaces/{repo_id}").text
    assert 'id="space-stage">RUNNING<' in page
    assert f'<iframe id="space-app" src="/-/spaces/{repo_id}/"' in page and "allow-same-origin" not in page

    c = sign_in(space_hub.url, "webspacer")
    settings = c.get(f"/spaces/{repo_id}/settings").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', settings).group(1)
    base = f"/spaces/{repo_id}/settings/space"
    assert c.post(base + "/sleeptime", data={"seconds": "600"}).status_code == 403  # no CSRF token: refused
    assert c.post(base + "/sleeptime", data={"csrf": csrf, "seconds": "600"}).status_code == 303
    assert api.get_space_runtime(repo_id).sleep_time == 600
    assert c.post(base + "/variable", data={"csrf": csrf, "key": "COLOR", "value": "<b>blue</b>"}).status_code == 303
    assert c.post(base + "/secret", data={"csrf": csrf, "key": "TOKEN", "value": "hidden-value-1"}).status_code == 303
    shown = c.get(f"/spaces/{repo_id}/settings").text
    assert "&lt;b&gt;blue&lt;/b&gt;" in shown and "<b>blue</b>" not in shown  # escaped
    assert "TOKEN" in shown and "hidden-value-1" not in shown
    assert api.get_space_variables(repo_id)["COLOR"].value == "<b>blue</b>"
    assert c.post(base + "/delete-variable", data={"csrf": csrf, "key": "COLOR"}).status_code == 303
    assert "COLOR" not in api.get_space_variables(repo_id)
    assert c.post(base + "/pause", data={"csrf": csrf}).status_code == 303
    assert api.get_space_runtime(repo_id).stage == "PAUSED"
    assert c.post(base + "/restart", data={"csrf": csrf}).status_code == 303
    wait_stage(api, repo_id, ("RUNNING",), timeout=60)
    assert c.post(base + "/bogus", data={"csrf": csrf}).status_code == 400

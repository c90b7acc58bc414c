"""Schemathesis over the whole served OpenAPI schema, against a real server: no 5xx, no dropped
connection, and every answer as the schema describes it (status, content type, headers, body).

The server gets a user with a public and a private model and dataset (files, a branch, a tag), and
the run sends the owner's write token. The hooks in ``fuzz_hooks.py`` steer most generated path
parameters to those repos (random names only ever reach a 404) and count what was sent. Runs are
derandomized, so a run is the same cases every time: ``test_fuzz_api`` (30 examples per operation) takes about a minute;
``test_fuzz_api_long`` (marked ``fuzz``, deselected unless ``pytest -m fuzz``) several. Each prints
the cases sent per operation and the statuses they got, and fails with a reproducer per problem.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from tests.conftest import start_server, stop_server

HOOKS = Path(__file__).with_name("fuzz_hooks.py")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
FUZZER_MEMORY = 4_000_000_000  # bytes of address space the fuzzer may take (it runs beside other jobs)
CARD = "---\nlicense: mit\npipeline_tag: text-classification\n---\n# A model\n"
FILES = {
    "model": {"README.md": CARD, "config.json": '{"model_type": "bert"}', "sub/a.txt": "hello\n"},
    "dataset": {"README.md": "# A dataset\n", "train.csv": "a,b\n1,x\n2,y\n"},
}


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory):
    """A Hub of its own (the run creates, moves and deletes repos, and changes settings) with what the
    steering points at: ``alice/{public,private}-{model,data}``, each with files, ``dev`` and ``v1``."""
    server = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    token = server.user("alice")
    api = HfApi(endpoint=server.url, token=token)
    repos = []
    for repo_type, suffix in (("model", "model"), ("dataset", "data")):
        for visibility in ("public", "private"):
            repo_id = f"alice/{visibility}-{suffix}"
            api.create_repo(repo_id, repo_type=repo_type, private=visibility == "private")
            api.create_commit(repo_id, repo_type=repo_type, commit_message="files", operations=[
                CommitOperationAdd(path, content.encode()) for path, content in FILES[repo_type].items()])
            api.create_branch(repo_id, repo_type=repo_type, branch="dev")
            api.create_tag(repo_id, repo_type=repo_type, tag="v1")
            repos.append([f"{repo_type}s", "alice", f"{visibility}-{suffix}"])
    steer = {"repos": repos, "repo_id": [1, 2, 3, 4],
             "rest": ["main", "dev", "v1", "main/config.json", "main/sub/a.txt", "dev/sub", "v1/README.md",
                      "main/train.csv", "refs%2Fheads%2Fmain"]}
    yield server, token, steer
    stop_server(server)


def schemathesis(hub, token: str, steer: dict, workdir: Path, *options: str, timeout: int) -> dict:
    """One ``st run`` over the served schema; returns its figures and problems by operation."""
    reports, counts = workdir / "reports", workdir / "sent.json"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "COVE_FUZZ_STEER": json.dumps(steer),
           "COVE_FUZZ_COUNTS": str(counts)}
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{hub.url}/api/openapi.json",
           "--header", f"Authorization: Bearer {token}", "--checks", CHECKS, "--generation-deterministic",
           "--workers", "1", "--request-timeout", "30", "--no-color",
           "--phases", "examples,coverage,fuzzing", "--report", "json,junit", "--report-dir", str(reports),
           # a health check of the generator (too few of its cases pass the steering hooks), not of the server
           "--suppress-health-check=filter_too_much",
           *options]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (FUZZER_MEMORY,) * 2))
    if proc.returncode not in (0, 1):  # 1: problems found, reported below
        raise RuntimeError(f"schemathesis failed to run:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    report = json.loads(next(reports.glob("json-*.json")).read_text())
    problems: dict[str, list[str]] = defaultdict(list)
    for case in ET.parse(next(reports.glob("junit-*.xml"))).iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            problems[case.get("name")].append(problem.text or problem.get("message", ""))
    sent: dict[str, Counter] = defaultdict(Counter)
    for key, n in json.loads(counts.read_text()).items():
        operation, status = key.rsplit(" ", 1)
        sent[operation][status] += n
    return {"cases": report["test_cases"]["generated"], "sent": sent, "problems": dict(problems),
            "seconds": report["running_time"]}


def figures(result: dict) -> str:
    lines = [f"{result['cases']} cases in {result['seconds']:.0f} s, requests by operation and status:"]
    for operation, statuses in sorted(result["sent"].items()):
        by_status = " ".join(f"{s}:{n}" for s, n in sorted(statuses.items()))
        flag = "  <- PROBLEM" if operation in result["problems"] else ""
        lines.append(f"  {sum(statuses.values()):5d}  {operation:60s} {by_status}{flag}")
    return "\n".join(lines)


def problems(result: dict) -> str:
    """Each operation's problems, each cut short (a flaky one carries Hypothesis's whole state)."""
    return "\n\n".join(f"== {operation}\n" + "\n".join(p if len(p) < 2000 else p[:1000] + "\n[...]\n" + p[-800:]
                                                   for p in found)
                       for operation, found in sorted(result["problems"].items()))


def test_fuzz_api(fuzz_hub, tmp_path):
    hub, token, steer = fuzz_hub
    result = schemathesis(hub, token, steer, tmp_path, "--max-examples", "30", timeout=500)
    print(figures(result))
    assert result["cases"] > 1200 and len(result["sent"]) >= 60, figures(result)
    assert not result["problems"], problems(result)


@pytest.mark.fuzz
@pytest.mark.timeout(2000)
def test_fuzz_api_long(fuzz_hub, tmp_path):
    hub, token, steer = fuzz_hub
    result = schemathesis(hub, token, steer, tmp_path, "--max-examples", "250", timeout=1800)
    print(figures(result))
    assert not result["problems"], problems(result)

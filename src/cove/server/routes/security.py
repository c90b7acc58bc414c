"""Security scan results in the Hugging Face Hub's shapes.

- ``securityFileStatus`` of each file in ``tree`` and ``paths-info`` with ``expand``:
  ``{"status", "avScan": {"status"}, "pickleImportScan": {"status", "pickleImports": [{"module",
  "name", "safety"}], "version"} | null}``; read by ``huggingface_hub`` as ``RepoFile.security``.
- ``securityRepoStatus`` of repo info with ``securityStatus=true``, and the body of
  ``GET /api/{type}s/{ns}/{name}/scan``: ``{"scansDone", "filesWithIssues": [{"path", "level"}]}``;
  read as ``ModelInfo.security_repo_status``.

Statuses are the Hub's: ``safe``, ``suspicious``, ``unsafe``, ``error``, ``queued`` (a scan not done
yet) and ``unscanned`` (a kind of file no scanner here reads). There is no antivirus here, so
``avScan`` is always ``unscanned``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from cove.server.routes import _openapi as api
from cove.server.routes._common import api_type, hub_of, principal
from cove.server.services.pickles import VERSION
from cove.server.services.scans import FileScan, RepoScanStatus

router = APIRouter()
UNSCANNED = {"status": "unscanned", "avScan": {"status": "unscanned"}, "pickleImportScan": None}


def file_status_json(scan: FileScan | None) -> dict:
    if scan is None:
        return dict(UNSCANNED)
    pickle_scan: dict = {"status": scan.status, "pickleImports": list(scan.imports), "version": f"cove-{VERSION}"}
    if scan.message:
        pickle_scan["message"] = scan.message
    return {"status": scan.status, "avScan": {"status": "unscanned"}, "pickleImportScan": pickle_scan}


def add_file_statuses(request: Request, repo, entries: list, items: list[dict]) -> None:
    """Add ``securityFileStatus`` to the file ``items`` (the JSON of ``entries``, in order)."""
    scans = hub_of(request).scans.file_scans(repo, entries)
    for entry, item in zip(entries, items, strict=True):
        if entry.type == "file":
            item["securityFileStatus"] = file_status_json(scans.get(entry.path))


def repo_status_json(status: RepoScanStatus) -> dict:
    return {"scansDone": status.scans_done,
            "filesWithIssues": [{"path": path, "level": level} for path, level in status.issues]}


@router.get("/api/{rtype}/{ns}/{name}/scan", **api.SCAN_STATUS)
def scan_status(rtype: str, ns: str, name: str, request: Request):
    """The scan status of the repo's default branch."""
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), api_type(rtype), f"{ns}/{name}")
    git = hub.repos.open_git(repo)
    return repo_status_json(hub.scans.repo_status(repo, git.list_tree(git.resolve("main"), recursive=True)))

"""The dataset viewer's API, and the context of the viewer shown on a dataset's card page.

``GET /api/datasets/{ns}/{name}/info?revision=`` -> configs, splits, features, row counts and sizes.
``GET /api/datasets/{ns}/{name}/rows?config=&split=&offset=&length=&revision=`` -> one page of rows
(at most 100) in the shape of Hugging Face's dataset viewer (``features``, ``rows`` with ``row_idx``,
``num_rows_total``). Both read Parquet footers and only the row groups a page needs (small csv,
json and text files are converted per request). An Image or Audio cell in ``rows`` points at
``GET /api/datasets/{ns}/{name}/cell?config=&split=&row=&column=&revision=``, which serves that one
cell's stored bytes: a PNG, JPEG, GIF or WebP image or a WAV, FLAC, Ogg or MP3 sound (known by its
magic number) inline under a sandbox policy, anything else (an SVG, an HTML page) as an
``application/octet-stream`` attachment, so that user content never runs as the Hub's origin.
Every route reads the repo's files (``hub.repos.get(..., "content")``): a private repo is a 404 to
whoever may not read it, a gated one answers as its file downloads do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cove.errors import BadRequest, EntryNotFound
from cove.server.routes import _openapi as api
from cove.server.routes._card_html import short_floats
from cove.server.routes._common import base_url, hub_of, principal
from cove.server.services.viewer import DatasetViewer

if TYPE_CHECKING:  # row and repo types in annotations only: routes never touch the database or git
    from cove.server.db import Repo
    from cove.server.storage.git import GitRepo


router = APIRouter(tags=["viewer"])
PAGE_ROWS = 20  # rows per page on the web page
MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/wav", "audio/flac", "audio/ogg",
               "audio/mpeg", "application/octet-stream")
VIEWER_CELL = api.doc(ok={200: {"description": "The cell's stored bytes: an image or a sound inline, anything "
                                               "else as an application/octet-stream attachment",
                                "content": {m: {"schema": api.BINARY} for m in MEDIA_TYPES}}},
                      errors=(400, 401, 404))


def _viewer(request: Request, ns: str, name: str, revision: str) -> DatasetViewer:
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), "dataset", f"{ns}/{name}", "content")
    git = hub.repos.open_git(repo)
    return DatasetViewer(hub.content, git, git.resolve(revision))


def media_urls(prefix: str, repo_id: str, sha: str):
    """``(config, split, row, column) -> URL`` of a cell's bytes at one commit (``prefix``: the Hub's
    URL, or "" for a path on the web page)."""
    def url(config: str, split: str, row: int, column: str) -> str:
        query = urlencode({"config": config, "split": split, "row": row, "column": column, "revision": sha})
        return f"{prefix}/api/datasets/{repo_id}/cell?{query}"
    return url


@router.get("/api/datasets/{ns}/{name}/info", **api.VIEWER_INFO)
def info(ns: str, name: str, request: Request, revision: str = "main"):
    return JSONResponse(_viewer(request, ns, name, revision).info())


@router.get("/api/datasets/{ns}/{name}/rows", **api.VIEWER_ROWS)
def rows(ns: str, name: str, request: Request, config: str | None = None, split: str | None = None,
         offset: int = 0, length: int = 100, revision: str = "main"):
    viewer = _viewer(request, ns, name, revision)
    urls = media_urls(base_url(request), f"{ns}/{name}", viewer.sha)
    return JSONResponse(viewer.rows(config, split, offset, length, urls))


@router.get("/api/datasets/{ns}/{name}/cell", **VIEWER_CELL)
def cell(ns: str, name: str, request: Request, row: int, column: str, config: str | None = None,
         split: str | None = None, revision: str = "main"):
    data, kind = _viewer(request, ns, name, revision).cell(config, split, row, column)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
               "Cache-Control": "private, max-age=3600",
               "Content-Disposition": "inline" if kind else 'attachment; filename="cell.bin"'}
    return Response(data, media_type=kind or "application/octet-stream", headers=headers)


# -- the web page -----------------------------------------------------------------------------------


def type_label(feature: dict | list) -> str:
    """A short name for a feature's JSON form: ``string``, ``ClassLabel(3)``, ``list<int32>``, ``Image``."""
    if isinstance(feature, list):
        return f"list<{type_label(feature[0])}>"
    kind = feature.get("_type")
    if kind is None:
        return "struct{" + ", ".join(feature) + "}"
    if kind == "Value":
        return feature["dtype"]
    if kind == "ClassLabel":
        return f"ClassLabel({len(feature.get('names') or [])})"
    if kind in ("List", "LargeList", "Sequence"):
        return f"list<{type_label(feature['feature'])}>"
    return kind


_FLOAT_FORMATS = {"float32": "<f", "float16": "<e"}


def _value_dtype(feature: dict | list) -> str:
    """The dtype of a ``Value`` feature or of a list of them (``""`` for others)."""
    if isinstance(feature, list):
        return _value_dtype(feature[0]) if feature else ""
    kind = feature.get("_type")
    if kind in ("List", "LargeList", "Sequence"):
        return _value_dtype(feature.get("feature", {}))
    return feature.get("dtype", "") if kind == "Value" else ""


def page_context(request: Request, repo: Repo, git: GitRepo, sha: str) -> dict | None:
    """What the viewer on a dataset card page shows (``?config=&split=&offset=`` pick the page);
    None when the dataset has no data files."""
    viewer = DatasetViewer(hub_of(request).content, git, sha)
    params = request.query_params
    try:
        offset = max(0, int(params.get("offset") or 0))
    except ValueError:
        offset = 0
    try:
        described = viewer.info()["dataset_info"]
        if not described:
            return None
        page = viewer.rows(params.get("config"), params.get("split"), offset, PAGE_ROWS,
                           media_urls("", repo.repo_id, sha))
    except (EntryNotFound, BadRequest) as e:
        return {"error": str(e)}
    config = described[page["config"]]
    for f in page["features"]:  # float32 cells at their precision: 2.3, not 2.299999952316284
        fmt = _FLOAT_FORMATS.get(_value_dtype(f["type"]))
        for r in page["rows"] if fmt else ():
            r["row"][f["name"]] = short_floats(r["row"].get(f["name"]), fmt)
    for f in page["features"]:  # class ids are shown with their names: "1 (dog)"
        names = f["type"].get("names") if f["type"].get("_type") == "ClassLabel" else None
        for r in page["rows"] if names else ():
            value = r["row"].get(f["name"])
            if isinstance(value, int) and 0 <= value < len(names):
                r["row"][f["name"]] = f"{value} ({names[value]})"
    return {
        "configs": {name: list(c["splits"]) for name, c in described.items()},
        "config": page["config"], "split": page["split"],
        "splits": config["splits"], "features": [(f["name"], type_label(f["type"])) for f in page["features"]],
        "rows": page["rows"], "offset": offset, "total": page["num_rows_total"], "page": PAGE_ROWS,
        "prev": max(0, offset - PAGE_ROWS) if offset > 0 else None,
        "next": offset + PAGE_ROWS if offset + PAGE_ROWS < page["num_rows_total"] else None,
    }

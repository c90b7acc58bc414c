"""The OpenAPI description of the Hub's API, served at ``/api/openapi.json``.

Routes read their requests themselves (``json_body``, ``request.stream()``, ``request.form()``) and
build their responses, so FastAPI can infer neither side. Each API route's decorator takes its
description from here (``@router.get(..., **api.TREE)``, built by :func:`doc`): ``openapi_extra=``
carries the request body and the parameters the route reads from the URL itself, ``responses=`` every
status it answers. Describing a route never changes what it does. :func:`openapi` then assembles the schema: the components below, and for each
operation exactly the responses its route declared (not FastAPI's guesses: a 422 the app never sends,
a JSON 200 for a file download).

Every error but the OpenAI-compatible ones is ``{"error": message}`` with ``X-Error-Code`` (the class
name in ``cove.errors``) and ``X-Error-Message``; HEAD answers carry the headers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

JSON = "application/json"
OCTETS_MEDIA = "application/octet-stream"
LFS_JSON = "application/vnd.git-lfs+json"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(*required: str, **properties: Any) -> dict:
    """A JSON object with these ``properties``; other keys may appear (clients ignore them)."""
    out: dict = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def array(items: dict, **extra: Any) -> dict:
    return {"type": "array", "items": items, **extra}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
ANY: dict = {}
DATE = {"type": "string", "description": "UTC, ISO 8601 ending in Z: 2024-05-01T12:00:00.000Z"}
SHA1 = {"type": "string", "pattern": "^[0-9a-f]{40}$"}
SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
REPO_TYPE = {"type": "string", "enum": ["model", "dataset", "space", "kernel"], "description": "absent: model"}
EMPTY = {"type": "object", "maxProperties": 0}
BINARY = {"type": "string", "format": "binary"}
SCAN_STATUSES = {"enum": ["safe", "suspicious", "unsafe", "error", "queued", "unscanned"]}

# -- components ------------------------------------------------------------------------------------

SCHEMAS: dict[str, dict] = {
    "Error": obj("error", error=STR),
    "OpenAIError": obj("error", error=obj("message", "type", "code", message=STR, type=STR, code=STR,
                                         param=ANY)),
    "YamlReport": obj("errors", "warnings", errors=array(obj("message", message=STR)), warnings=array(ANY)),
    "Whoami": obj(
        "type", "id", "name", "orgs", type={"const": "user"}, id=STR, name=STR, fullname=STR, email=STR,
        emailVerified=BOOL, avatarUrl=STR, isPro=BOOL, isAdmin=BOOL,
        orgs=array(obj("name", type={"const": "org"}, id=STR, name=STR, fullname=STR,
                       roleInOrg={"enum": ["read", "write", "admin"]})),
        auth=obj("type", type=STR, accessToken=obj("displayName", "role", displayName=STR,
                                                   role={"enum": ["read", "write"]}, createdAt=DATE)),
    ),
    "RepoInfo": obj(
        "_id", "id", "author", "sha", "private", "gated", "tags",
        _id=STR, id=STR, modelId=STR, author=STR,
        sha={"type": "string", "description": "the resolved commit (40 hex), empty for a listed empty repo"},
        lastModified=DATE, createdAt=DATE, private=BOOL,
        gated={"enum": [False, "auto", "manual"]}, disabled=BOOL, downloads=INT, likes=INT, tags=array(STR),
        pipeline_tag=STR, library_name=STR, sdk=STR, subdomain=STR, visibility={"enum": ["public", "private"]},
        cardData={"type": "object"},
        securityRepoStatus=ref("RepoScanStatus"),
        siblings=array(obj("rfilename", rfilename=STR, size=INT, blobId=SHA1,
                           lfs=obj("sha256", "size", "pointerSize", sha256=SHA256, size=INT, pointerSize=INT))),
    ),
    "TreeEntry": obj(
        "type", "path", "oid", "size", type={"enum": ["file", "directory"]}, path=STR, oid=SHA1, size=INT,
        lfs=obj("oid", "size", "pointerSize", oid=SHA256, size=INT, pointerSize=INT),
        xetHash={**SHA256, "description": "LFS files the Xet CAS serves: their Xet file ID"},
        lastCommit=obj("id", "title", "date", id=SHA1, title=STR, date=DATE),
        securityFileStatus=ref("FileScanStatus"),
    ),
    "FileScanStatus": obj(
        "status", "avScan", "pickleImportScan", status=SCAN_STATUSES, avScan=obj("status", status=SCAN_STATUSES),
        pickleImportScan={"anyOf": [{"type": "null"}, obj(
            "status", "pickleImports", status=SCAN_STATUSES, version=STR, message=STR,
            pickleImports=array(obj("module", "name", "safety", module=STR, name=STR,
                                    safety={"enum": ["innocuous", "suspicious", "dangerous"]})))]},
    ),
    "RepoScanStatus": obj("scansDone", "filesWithIssues", scansDone=BOOL, filesWithIssues=array(obj(
        "path", "level", path=STR, level=SCAN_STATUSES))),
    "Ref": obj("name", "ref", "targetCommit", name=STR, ref=STR, targetCommit=SHA1),
    "Refs": obj("branches", "converts", "tags", branches=array(ref("Ref")), converts=array(ref("Ref")),
                tags=array(ref("Ref")), pullRequests=array(ref("Ref"))),
    "Commit": obj(
        "id", "title", "message", "date", "authors", id=SHA1, title=STR, message=STR, date=DATE,
        authors=array(obj("user", user=STR, avatar=STR)), parents=array(SHA1),
        formatted=obj("title", "message", title=STR, message=STR),
    ),
    "CommitLine": {"oneOf": [
        obj("key", "value", key={"const": "header"},
            value=obj("summary", summary=STR, description=STR, parentCommit={"type": "string", "pattern": "^[0-9a-f]{5,40}$"})),
        obj("key", "value", key={"const": "file"},
            value=obj("path", "content", path=STR, content={"type": "string", "contentEncoding": "base64"},
                      encoding={"const": "base64"})),
        obj("key", "value", key={"const": "lfsFile"},
            value=obj("path", "oid", path=STR, algo={"const": "sha256"}, oid=SHA256, size=INT)),
        obj("key", "value", key={"const": "deletedFile"}, value=obj("path", path=STR)),
        obj("key", "value", key={"const": "deletedFolder"}, value=obj("path", path=STR)),
    ]},
    "CommitResult": obj("success", "commitOid", "commitUrl", success=BOOL, commitOid=SHA1, commitUrl=STR,
                        hookOutput=STR),
    "LfsBatchResponse": obj(
        "transfer", "objects", transfer={"enum": ["basic", "multipart"]}, hash_algo={"const": "sha256"},
        objects=array(obj(
            "oid", "size", oid=STR, size=INT, authenticated=BOOL,
            actions={"type": "object", "description": "absent: the object is already stored",
                     "additionalProperties": obj("href", href=STR, header={"type": "object"},
                                                 expires_in=INT)},
            error=obj("code", "message", code=INT, message=STR),
        )),
    ),
    "ModelObject": obj("id", "object", "created", "owned_by", id=STR, object={"const": "model"}, created=INT,
                       owned_by=STR),
    "Usage": obj("prompt_tokens", "completion_tokens", "total_tokens", prompt_tokens=INT,
                 completion_tokens=INT, total_tokens=INT),
    "Completion": obj(
        "id", "object", "created", "model", "choices", id=STR,
        object={"enum": ["chat.completion", "text_completion"]}, created=INT, model=STR,
        choices=array(obj("index", "finish_reason", index=INT, text=STR, finish_reason=STR, logprobs=ANY,
                          message=obj("role", "content", role={"const": "assistant"}, content=STR))),
        usage=ref("Usage"), system_fingerprint=STR,
    ),
    "GenerationOptions": obj(
        model={"type": "string", "description": "the repo id, optionally @revision: alice/tiny-llama@main"},
        max_tokens=INT, temperature={"type": "number", "minimum": 0, "maximum": 2},
        top_p={"type": "number", "minimum": 0, "maximum": 1}, seed=INT, n={"const": 1},
        stop={"anyOf": [STR, array(STR, maxItems=4)]}, stream=BOOL,
        stream_options=obj(include_usage=BOOL),
    ),
}

#: The callers: a token (``Authorization: Bearer``), HTTP Basic with a token or the account password as
#: the password (git and git-lfs), or the web session cookie. Every route also answers anonymous callers.
SECURITY_SCHEMES = {
    "token": {"type": "http", "scheme": "bearer", "description": "a Cove access token (read or write)"},
    "basic": {"type": "http", "scheme": "basic",
              "description": "any user name; a token, or the account password, as the password"},
    "session": {"type": "apiKey", "in": "cookie", "name": "cove_session",
                "description": "the web UI's session (sign in at /login)"},
}
SECURITY = [{}, {"token": []}, {"basic": []}, {"session": []}]

# -- responses -------------------------------------------------------------------------------------

ERROR_HEADERS = {
    "X-Error-Code": {"description": "the error class: RepoNotFound, RevisionNotFound, EntryNotFound, "
                                    "BadRequest, Unauthorized, Forbidden, Conflict, ...",
                     "required": True, "schema": STR},
    "X-Error-Message": {"description": "the message, on one line (latin-1)", "schema": STR},
}
WHY = {
    400: "BadRequest: a malformed parameter or body",
    401: "Unauthorized: an invalid token, or this needs one (`WWW-Authenticate`)",
    403: "Forbidden: the caller may read but not do this (a read-only token, a read role), or an "
         "invalid signed URL",
    404: "RepoNotFound (missing, or private to the caller: the two are indistinguishable), "
         "RevisionNotFound or EntryNotFound",
    409: "Conflict: it exists already, or a ref moved meanwhile",
    412: "PreconditionFailed: parentCommit is not the branch head",
    413: "PayloadTooLarge: the body is over the server's limit",
    416: "RangeNotSatisfiable",
    422: "Unprocessable: the content does not match what was announced, or a model could not be loaded",
    429: "TooManyRequests: over a rate limit (`Retry-After`)",
}


def error(status: int, schema: dict | None = None, why: str | None = None) -> dict:
    return {"description": why or WHY[status], "headers": ERROR_HEADERS,
            "content": {JSON: {"schema": schema or ref("Error")}}}


def json_ok(schema: dict, why: str = "OK", headers: dict | None = None) -> dict:
    out: dict = {"description": why, "content": {JSON: {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


LINK = {"Link": {"description": 'the next page: <absolute URL>; rel="next" (absent on the last page)',
                 "schema": STR}}

# -- parameters the routes read themselves ---------------------------------------------------------


def query(name: str, schema: dict, why: str, *, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": why}


def rest(why: str) -> dict:
    """The ``{rest:path}`` tail of a route, which the route splits from the raw URL itself."""
    return {"name": "rest", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": why}


FLAG = {"type": "string", "enum": ["true", "false", "1", "0"]}
CURSOR = query("cursor", STR, "from the Link header of the previous page")
REV_PATH = rest("the revision, percent-encoded with safe='' (refs%2Fpr%2F1), then /path of a file or folder")
REV = rest("the revision, percent-encoded with safe='' (refs%2Fpr%2F1)")
#: The route parameters of the same name mean the same thing everywhere (see :func:`openapi`).
PATH_PARAMS = {
    "rtype": {"schema": {"type": "string", "enum": ["models", "datasets", "spaces", "kernels"]},
              "description": "the API segment of the repo type"},
    "ns": {"schema": {"type": "string", "minLength": 1}, "description": "the namespace: a user or an org"},
    "name": {"schema": {"type": "string", "minLength": 1},
             "description": "the repo name (git and LFS routes: optionally ending in .git)"},
    "repo_id": {"schema": INT, "description": "the repo's numeric id, from the batch API's URL"},
    "user": {"schema": {"type": "string", "minLength": 1}, "description": "a user's name"},
    "oid": {"schema": STR, "description": "the object's sha256"},
    "prefix": {"schema": STR, "description": "the CAS prefix (`default`); any value is accepted"},
    "xorb": {"schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "description": "a xorb hash"},
    "file": {"schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "description": "a Xet file ID"},
    "chunk": {"schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "description": "a chunk hash"},
    "slug": {"schema": {"type": "string", "pattern": "^.*-[0-9a-f]{24}$"},
             "description": "a collection's slug after its owner: <slugified title>-<24-hex id>"},
    "item_oid": {"schema": {"type": "string", "minLength": 1}, "description": "a collection item's `_id`"},
}
SIGNED = [
    query("size", STR, "the object's size, as the batch API signed it"),
    query("exp", STR, "when the URL expires (unix seconds), as the batch API signed it"),
    query("n", STR, "the grant's nonce, as the batch API signed it"),
    query("sig", STR, "the signature of the URL (from the batch API)"),
]

# -- request bodies --------------------------------------------------------------------------------


def json_request(schema: dict, *, required: bool = True, media: Iterable[str] = (JSON,)) -> dict:
    """A JSON body (the routes parse any content type as JSON; an empty body is ``{}``)."""
    return {"required": required, "content": {m: {"schema": schema} for m in media}}


def raw_request(media: str, why: str) -> dict:
    return {"required": True, "description": why,
            "content": {media: {"schema": BINARY}}}


def doc(*, ok: dict[int, dict], errors: Iterable[int | tuple[int, dict]] = (), body: dict | None = None,
        params: Iterable[dict] = (), error_schema: dict | None = None, head: bool = False) -> dict:
    """A route decorator's OpenAPI keyword arguments: ``responses`` (the ``ok`` answers and the
    ``errors``: a status for the shared :func:`error` answer, or ``(status, answer)``) and
    ``openapi_extra`` (the request ``body`` and the ``params`` the route reads itself). ``head``: the
    answers carry headers only."""
    responses: dict[int, dict] = dict(ok)
    for e in errors:
        status, answer = e if isinstance(e, tuple) else (e, error(e, error_schema))
        responses[status] = answer
    if head:
        responses = {s: {k: v for k, v in a.items() if k != "content"} for s, a in responses.items()}
    extra: dict = {}
    if body is not None:
        extra["requestBody"] = body
    if params:
        extra["parameters"] = list(params)
    return {"responses": responses, "openapi_extra": extra}


# == the routes' descriptions, by route module =====================================================

VISIBILITY = {"enum": ["private", "public", "protected"], "description": "protected: spaces only"}
PRIVATE = {"type": ["boolean", "null"], "description": "what 0.x clients send instead of visibility"}
BLOBS = query("blobs", FLAG, "add size, blobId and lfs to each sibling")
CONFLICT_URL = error(409, obj("error", "url", error=STR, url=STR), "Conflict: the repo exists already (url)")

# -- api_repos -------------------------------------------------------------------------------------

WHOAMI = doc(ok={200: json_ok(ref("Whoami"))}, errors=(401,))
CREATE_ORG = doc(ok={200: json_ok(obj("type", "name", "fullname", type={"const": "org"}, name=STR, fullname=STR))},
                 errors=(400, 401, 403, 409, 413), body=json_request(obj("name", name=STR, fullname=STR)))
REVOKE_CREDENTIALS = doc(ok={200: json_ok({"type": "object"})}, errors=(400, 413),
                         body=json_request(obj("credentials", credentials=array(STR))))
AGENT_HARNESSES = doc(ok={200: json_ok(obj("standardEnvVars", "harnesses", standardEnvVars=array(STR),
                                           harnesses={"type": "object"}))})
YAML_TEXT = {"text/plain": {"schema": {"type": "string", "description": "- Error: ... / - Warning: ... lines "
                                                                      "(with Accept: text/plain)"}}}
VALIDATE_YAML = doc(
    ok={200: {"description": "the card's metadata is valid (warnings, e.g. no metadata, may be listed)",
              "content": {JSON: {"schema": ref("YamlReport")}, **YAML_TEXT}}},
    errors=((400, {"description": "the metadata breaks the Hub's rules (a report, without X-Error-Code), or "
                                  "the body is not JSON (BadRequest)",
                   "headers": {**ERROR_HEADERS, "X-Error-Code": {**ERROR_HEADERS["X-Error-Code"], "required": False}},
                   "content": {JSON: {"schema": {"anyOf": [ref("YamlReport"), ref("Error")]}}, **YAML_TEXT}}),
            413),
    body=json_request(obj(content={"type": "string", "description": "the README.md text"},
                          repoType={"enum": ["model", "dataset", "space", "kernel"], "description": "absent: model"})),
)
CREATE_REPO = doc(
    ok={200: json_ok(obj("url", "name", "id", url=STR, name=STR, id=STR))},
    errors=(400, 401, 403, (409, CONFLICT_URL), 413),
    body=json_request(obj(
        "name", name={"type": "string", "description": "name, or namespace/name"},
        organization={"type": ["string", "null"], "description": "the namespace (absent: the caller's)"},
        type=REPO_TYPE, visibility=VISIBILITY, private=PRIVATE,
        sdk={"enum": ["gradio", "streamlit", "docker", "static"], "description": "spaces only"},
    )),
)
DELETE_REPO = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 413),
                  body=json_request(obj("name", name=STR, organization={"type": ["string", "null"]},
                                        type=REPO_TYPE)))
MOVE_REPO = doc(ok={200: json_ok(obj("url", url=STR))}, errors=(400, 401, 403, 404, 409, 413),
                body=json_request(obj("fromRepo", "toRepo", fromRepo=STR, toRepo=STR,
                                      type={**REPO_TYPE, "enum": [*REPO_TYPE["enum"], "bucket"]})))
REPO_SETTINGS = doc(
    ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 413),
    body=json_request(obj(visibility=VISIBILITY, private=PRIVATE,
                          gated={"enum": [False, "auto", "manual", None], "description": "null: unchanged"})),
)
LIKE = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404))
LIKERS = doc(ok={200: json_ok(array(obj("user", "fullname", "avatarUrl", user=STR, fullname=STR, avatarUrl=STR,
                                          type=STR, isPro=BOOL)), "the users who like the repo", headers=LINK)},
             errors=(400, 401, 404), params=[CURSOR])
USER_LIKES = doc(ok={200: json_ok(array(obj("repo", repo=obj("name", "type", name=STR, type=REPO_TYPE))),
                                  "the repos the user likes that the caller may see", headers=LINK)},
                 errors=(400, (404, error(404, why="NotFound: no such user"))), params=[CURSOR])
AUTH_CHECK = doc(ok={200: json_ok(EMPTY, "the caller may read the repo (.../write: change it)")},
                 errors=(400, 401, 403, 404))
ACCESS_REQUEST = obj("requestId", "user", "status", "timestamp", requestId=STR, status={"enum": ["pending", "accepted", "rejected"]},
                     timestamp=DATE, user=obj("user", "fullname", user=STR, fullname=STR, email=STR),
                     fields={"type": "object"})
ACCESS_REQUESTS = doc(ok={200: json_ok(array(ACCESS_REQUEST), "the gated repo's requests of that status",
                                       headers=LINK)}, errors=(400, 401, 403, 404), params=[CURSOR])
HANDLE_ACCESS_REQUEST = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 413), body=json_request(obj(
    "status", user=STR, requestId=STR, status={"enum": ["pending", "accepted", "rejected"]}, rejectionReason=STR)))
GRANT_ACCESS = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 409, 413),
                   body=json_request(obj("user", user=STR)))
TOO_MANY_FILES = (422, error(422, why="Unprocessable: the revision lists more files than COVE_MAX_REPO_FILES"))
SECURITY_STATUS = query("securityStatus", FLAG, "add securityRepoStatus: the pickle scans of the revision")
REPO_INFO = doc(ok={200: json_ok(ref("RepoInfo"))}, errors=(400, 401, 404, TOO_MANY_FILES), params=[BLOBS, SECURITY_STATUS])
REPO_INFO_AT = doc(ok={200: json_ok(ref("RepoInfo"))}, errors=(400, 401, 404, TOO_MANY_FILES), params=[REV, BLOBS, SECURITY_STATUS])
LIST_REPOS = doc(
    ok={200: json_ok(array(ref("RepoInfo")), headers=LINK)}, errors=(400, 401),
    params=[
        query("search", array(STR), "words the repo id contains (repeatable)"),
        query("author", STR, "the namespace"),
        query("filter", array(STR), "tags the repo has (repeatable)"),
        query("pipeline_tag", STR, "a tag, as filter"),
        query("library", STR, "a tag, as filter"),
        query("language", STR, "a tag, as filter"),
        query("sort", {"enum": ["downloads", "likes", "trendingScore", "lastModified", "createdAt", "id"]},
              "descending"),
        query("limit", INT, "at most the server's page size"),
        query("full", FLAG, "add siblings"),
        CURSOR,
    ],
)

# -- api_content -----------------------------------------------------------------------------------

TREE = doc(ok={200: json_ok(array(ref("TreeEntry")), headers=LINK)}, errors=(400, 401, 404, TOO_MANY_FILES),
           params=[REV_PATH, query("recursive", FLAG, "list all descendants"),
                   query("expand", FLAG, "add each entry's lastCommit"), CURSOR])
PATHS_INFO = doc(
    ok={200: json_ok(array(ref("TreeEntry")), "the entries of the paths that exist")},
    errors=(400, 401, 404, 413), params=[REV],
    body={"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": obj(paths=array(STR), expand=FLAG)},
        JSON: {"schema": obj(paths=array(STR), expand=BOOL)},
    }},
)
REFS = doc(ok={200: json_ok(ref("Refs"))}, errors=(400, 401, 404),
           params=[query("include_prs", FLAG, "add pullRequests")])
COMMITS = doc(ok={200: json_ok(array(ref("Commit")), "newest first", headers=LINK)}, errors=(400, 401, 404),
              params=[REV, CURSOR])
CREATE_BRANCH = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 409, 413),
                    params=[rest("the new branch's name")],
                    body=json_request(obj(startingPoint={"type": ["string", "null"],
                                                         "description": "a revision (absent: main)"}),
                                      required=False))
DELETE_BRANCH = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 409), params=[rest("the branch")])
CREATE_TAG = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 409, 413),
                 params=[rest("the revision to tag, percent-encoded")],
                 body=json_request(obj("tag", tag=STR, message=STR)))
DELETE_TAG = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 409), params=[rest("the tag")])
DISCUSSIONS = doc(ok={200: json_ok(obj("discussions", "count", "start", discussions=array(ANY), count=INT,
                                       start=INT, numClosedDiscussions=INT))},
                  errors=(400, 401, 404), params=[
                      query("p", INT, "the page (0-based; 50 a page, newest first)"),
                      query("type", {"enum": ["all", "discussion", "pull_request"]}, "only these"),
                      query("status", {"enum": ["all", "open", "closed"]}, "open: open and draft; closed: closed and merged"),
                      query("author", STR, "only this user's")])
EVENT = obj("id", "type", "createdAt", id=STR, type=STR, createdAt=STR, author=ANY, data=ANY)
CREATE_DISCUSSION = doc(ok={200: json_ok(obj("num", num=INT, url=STR))}, errors=(400, 401, 403, 404, 413, 429),
                        body=json_request(obj("title", title=STR, description=STR, pullRequest=BOOL)))
DISCUSSION = doc(ok={200: json_ok(obj("num", "title", "status", "isPullRequest", "createdAt", "repo", "events",
                                      num=INT, title=STR, status=STR, isPullRequest=BOOL, createdAt=STR, repo=ANY,
                                      events=array(EVENT), changes=ANY, filesWithConflicts=ANY, diff=STR))},
                 errors=(400, 401, 404), params=[query("diff", FLAG, "with the PR's unified diff")])
COMMENT_DISCUSSION = doc(ok={200: json_ok(obj("newMessage", newMessage=EVENT))}, errors=(400, 401, 403, 404, 413),
                         body=json_request(obj("comment", comment=STR)))
EDIT_COMMENT = doc(ok={200: json_ok(obj("updatedComment", updatedComment=EVENT))}, errors=(400, 401, 403, 404, 413),
                   body=json_request(obj("content", content=STR)))
HIDE_COMMENT = doc(ok={200: json_ok(obj("updatedComment", updatedComment=EVENT))}, errors=(400, 401, 403, 404))
RENAME_DISCUSSION = doc(ok={200: json_ok(obj("newTitle", newTitle=EVENT))}, errors=(400, 401, 403, 404, 413),
                        body=json_request(obj("title", title=STR)))
DISCUSSION_STATUS = doc(ok={200: json_ok(obj("newStatus", newStatus=EVENT))}, errors=(400, 401, 403, 404, 413),
                        body=json_request(obj("status", status={"enum": ["open", "closed"]}, comment=STR)))
MERGE_PR = doc(ok={200: json_ok(ANY)}, errors=(400, 401, 403, 404, 409, 413),
               body=json_request(obj(comment=STR), required=False))

# -- api_history -----------------------------------------------------------------------------------

SUPER_SQUASH = doc(ok={200: json_ok(obj("commitOid", commitOid=SHA1), "the branch is one commit of its files")},
                   errors=(400, 401, 403, 404, 409, 413), params=[rest("the branch (or refs/pr/N), percent-encoded")],
                   body=json_request(obj(message=STR), required=False))
LFS_FILE = obj("fileOid", "oid", "size", "pushedAt", "filename", "ref", fileOid=SHA256, oid=SHA1, size=INT,
               pushedAt=DATE, filename={"type": ["string", "null"], "description": "null: never committed"},
               ref={"type": ["string", "null"], "description": "the ref it first appears in"})
LFS_FILES = doc(ok={200: json_ok(array(LFS_FILE), "the repo's LFS objects, newest first", headers=LINK)},
                errors=(400, 401, 403, 404), params=[CURSOR])
LFS_FILES_DELETE = doc(
    ok={200: json_ok(obj("deleted", deleted=INT), "how many of the repo's objects were deleted")},
    errors=(400, 401, 403, 404, (409, error(409, why="Conflict: an object is still in the history (without "
                                                     "rewriteHistory), or the repo changed meanwhile")), 413),
    body=json_request(obj("deletions", deletions=obj("sha", sha=array(SHA256, maxItems=1000),
                                                       rewriteHistory={"type": "boolean",
                                                                       "description": "absent: true"}))),
)
REPO_STORAGE = array(obj("id", "type", "updatedAt", "visibility", "storage", id=STR, type=REPO_TYPE,
                         updatedAt=DATE, visibility={"enum": ["public", "private"]}, storage=INT,
                         storagePercent={"type": "number"}))
STORAGE = doc(ok={200: json_ok(REPO_STORAGE, "the caller's repos and the bytes each stores", headers=LINK)},
              errors=(400, 401), params=[CURSOR])
STORAGE_ORG = doc(ok={200: json_ok(REPO_STORAGE, "the organization's repos and the bytes each stores",
                                   headers=LINK)}, errors=(400, 401, 403), params=[CURSOR])

# -- commit ----------------------------------------------------------------------------------------

PREUPLOAD = doc(
    ok={200: json_ok(obj(
        "files", "commitOid",
        files=array(obj("path", "uploadMode", "shouldIgnore", path=STR, uploadMode={"enum": ["regular", "lfs"]},
                        shouldIgnore=BOOL, oid={"type": ["string", "null"]})),
        commitOid={"type": ["string", "null"], "description": "null: the branch does not exist"},
    ))},
    errors=(400, 401, 403, 404, 413, 422), params=[REV],
    body=json_request(obj("files", files=array(obj(
        "path", path=STR, size=INT,
        sample={"type": "string", "description": "base64 of the file's first 512 bytes"},
    ), maxItems=10_000), gitIgnore={"type": "string", "description": "the .gitignore of the commit (absent: "
                                                                      "the revision's)"})),
)
COMMIT = doc(
    ok={200: json_ok(ref("CommitResult"))}, errors=(400, 401, 403, 404, 409, 412, 413, 422),
    params=[rest("the branch, percent-encoded"),
            query("create_pr", FLAG, "open a pull request against this branch and commit to its refs/pr/N")],
    body={"required": True, "description": "NDJSON: one CommitLine a line (not a JSON array), the header first",
          "content": {"application/x-ndjson": {"schema": array(ref("CommitLine"), minItems=1)}}},
)

# -- lfs -------------------------------------------------------------------------------------------

LFS_401 = (401, error(401, why="Unauthorized: git-lfs is asked for credentials (WWW-Authenticate: Basic)"))
LFS_MEDIA = (LFS_JSON, JSON)


def lfs_ok(schema: dict) -> dict:
    return {200: {"description": "OK", "content": {LFS_JSON: {"schema": schema}}}}


LFS_BATCH = doc(
    ok=lfs_ok(ref("LfsBatchResponse")), errors=(400, LFS_401, 403, 404, 413),
    body=json_request(obj("operation", "objects", operation={"enum": ["upload", "download"]},
                          objects=array(obj("oid", "size", oid=STR, size=INT)), transfers=array(STR),
                          ref=obj(name=STR), hash_algo=STR), media=LFS_MEDIA),
)
LFS_LOCKS_VERIFY = doc(ok=lfs_ok(obj("ours", "theirs", ours=array(ANY, maxItems=0), theirs=array(ANY, maxItems=0))),
                       errors=(400, LFS_401, 403, 404, 413),
                       body=json_request(obj(ref=obj(name=STR)), required=False, media=LFS_MEDIA))
LFS_LOCKS = doc(ok=lfs_ok(obj("locks", locks=array(ANY, maxItems=0))), errors=(LFS_401, 404))
LFS_UPLOAD = doc(ok={200: {"description": "stored"}}, errors=(400, 403, 404, 422), params=SIGNED,
                 body=raw_request("application/octet-stream", "the object's bytes"))
LFS_UPLOAD_PART = doc(
    ok={200: {"description": "stored", "headers": {"ETag": {"required": True, "schema": STR}}}},
    errors=(400, 403, 404, 422), params=SIGNED,
    body=raw_request("application/octet-stream", "the part's bytes"),
)
LFS_COMPLETE = doc(ok=lfs_ok(EMPTY), errors=(400, 403, 404, 413, 422), params=SIGNED,
                   body=json_request(obj("parts", oid=STR,
                                         parts=array(obj("partNumber", "etag", partNumber=INT, etag=STR))),
                                     media=LFS_MEDIA))
LFS_VERIFY = doc(ok=lfs_ok(EMPTY), errors=(400, 403, 404, 413, 422), params=SIGNED,
                 body=json_request(obj("oid", "size", oid=STR, size=INT), media=LFS_MEDIA))
LFS_DOWNLOAD = doc(ok={200: {"description": "the object's bytes",
                             "content": {"application/octet-stream": {"schema": BINARY}}}},
                   errors=(400, 403, 404), params=SIGNED)

# -- git smart HTTP --------------------------------------------------------------------------------
# Described as far as an HTTP client sees it: the bodies are git's pkt-line protocol, answered by
# `git http-backend`.

GIT_401 = (401, error(401, why="Unauthorized: git is asked for credentials (WWW-Authenticate: Basic)"))


def git_ok(*media: str) -> dict:
    return {200: {"description": "git's answer", "content": {m: {"schema": BINARY} for m in media}}}


GIT_INFO_REFS = doc(
    ok=git_ok("application/x-git-upload-pack-advertisement", "application/x-git-receive-pack-advertisement"),
    errors=(400, GIT_401, 403, 404),
    params=[query("service", {"enum": ["git-upload-pack", "git-receive-pack"]}, "clone/fetch, or push",
                  required=True)],
)
GIT_415 = (415, {"description": "git http-backend: the Content-Type is not the one of this service"})
GIT_UPLOAD_PACK = doc(ok=git_ok("application/x-git-upload-pack-result"), errors=(GIT_401, 404, GIT_415),
                      body=raw_request("application/x-git-upload-pack-request", "what to fetch (pkt-lines)"))
GIT_RECEIVE_PACK = doc(ok=git_ok("application/x-git-receive-pack-result"), errors=(GIT_401, 403, 404, GIT_415),
                       body=raw_request("application/x-git-receive-pack-request", "ref updates and a pack"))

# -- resolve ---------------------------------------------------------------------------------------

FILE_HEADERS = {
    "X-Repo-Commit": {"required": True, "schema": SHA1, "description": "the commit the revision resolved to"},
    "ETag": {"required": True, "schema": STR, "description": "the git blob id, or the sha256 of an LFS file"},
    "X-Linked-Etag": {"schema": STR, "description": "LFS files: the sha256"},
    "X-Linked-Size": {"schema": STR, "description": "LFS files: the size"},
    "X-Xet-Hash": {"schema": SHA256, "description": "LFS files the Xet CAS serves: their Xet file ID"},
    "X-Xet-Refresh-Route": {"schema": STR, "description": "with X-Xet-Hash: the read-token route (also in Link)"},
    "Link": {"schema": STR, "description": 'with X-Xet-Hash: <read-token route>; rel="xet-auth"'},
}
RESOLVE_PARAMS = [REV_PATH, {"name": "Range", "in": "header", "required": False, "schema": STR,
                             "description": "bytes=A-B, bytes=A- or bytes=-N"}]
RESOLVE_ERRORS = (400, 401, (404, error(404, why="RepoNotFound, RevisionNotFound, or EntryNotFound (with "
                                                "X-Repo-Commit)")), 416)


def resolve_ok(*, head: bool, headers: dict | None = None) -> dict:
    def answer(why: str, headers: dict) -> dict:
        out = {"description": why, "headers": headers}
        return out if head else {**out, "content": {"*/*": {"schema": {"description": "the file's bytes"}}}}

    headers = headers or FILE_HEADERS
    return {200: answer("the file", headers),
            206: answer("the range asked for", {**headers, "Content-Range": {"required": True, "schema": STR}})}


RESOLVE = doc(ok=resolve_ok(head=False), errors=RESOLVE_ERRORS, params=RESOLVE_PARAMS)
RESOLVE_HEAD = doc(ok=resolve_ok(head=True), errors=RESOLVE_ERRORS, params=RESOLVE_PARAMS, head=True)

# -- xet -------------------------------------------------------------------------------------------

XET_TOKEN_HEADERS = {name: {"required": True, "schema": STR, "description": what} for name, what in (
    ("X-Xet-Cas-Url", "casUrl"), ("X-Xet-Access-Token", "accessToken"), ("X-Xet-Token-Expiration", "exp"))}
XET_TOKEN = obj("accessToken", "exp", "casUrl", accessToken=STR, exp={**INT, "description": "unix seconds"},
                casUrl={**STR, "description": "absolute, no trailing slash"})
XET_OFF = error(404, why="RepoNotFound, or NotFound: this Hub serves no Xet storage (COVE_XET=0)")
XET_READ_TOKEN = doc(ok={200: json_ok(XET_TOKEN, "a read token, in the body and the headers", XET_TOKEN_HEADERS)},
                     errors=(400, 401, (404, XET_OFF)), params=[REV])
XET_WRITE_TOKEN = doc(ok={200: json_ok(XET_TOKEN, "a write token, in the body and the headers", XET_TOKEN_HEADERS)},
                      errors=(400, 401, 403, (404, XET_OFF)),
                      params=[REV, query("create_pr", FLAG, "a token for a pull request's uploads (read access is enough)")])
LFS_DUPLICATE = doc(
    ok={200: json_ok(obj("failed", failed=array(obj("sha256", "error", sha256=STR, error=STR))),
                     "the files that could not be copied (empty: all were)")},
    errors=(400, 401, 403, 404, 413),
    body=json_request(obj("target", "files", target=obj("name", type=REPO_TYPE, name=STR),
                          files=array(obj("sha256", sha256=SHA256, xetHash=SHA256, filename=STR)))))
CAS_ERRORS = (400, (401, error(401, why="Unauthorized: no, a bad or an expired Xet token")),
              (403, error(403, why="Forbidden: a read token on a write route")))
CAS_XORB = doc(ok={200: json_ok(obj("was_inserted", was_inserted=BOOL))}, errors=(*CAS_ERRORS, 404),
               body=raw_request(OCTETS_MEDIA, "a serialized xorb (spec §6), verified against its hash"))
CAS_SHARD = doc(ok={200: json_ok(obj("result", result={"enum": [0, 1]}), "1: new files registered, 0: known")},
                errors=(*CAS_ERRORS, 404, 413), body=raw_request(OCTETS_MEDIA, "a shard (spec §7) without footer"))
RECONSTRUCTION_PARAMS = [{"name": "Range", "in": "header", "required": False, "schema": STR,
                          "description": "bytes=A-B (inclusive), the part of the file wanted"}]
CAS_RECONSTRUCTION = doc(
    ok={200: json_ok(obj("offset_into_first_range", "terms", "fetch_info", offset_into_first_range=INT,
                         terms=array(ANY), fetch_info={"type": "object"}), "the v1 reconstruction (spec §8.2)")},
    errors=(*CAS_ERRORS, (404, error(404, why="not a file of the token's repo")), 416), params=RECONSTRUCTION_PARAMS)
CAS_RECONSTRUCTION_V2 = doc(
    ok={200: json_ok(obj("offset_into_first_range", "terms", "xorbs", offset_into_first_range=INT,
                         terms=array(ANY), xorbs={"type": "object"}), "the v2 reconstruction (spec §8.2)")},
    errors=(*CAS_ERRORS, (404, error(404, why="not a file of the token's repo")), 416), params=RECONSTRUCTION_PARAMS)
CAS_FETCH = doc(
    ok={206: {"description": "exactly the bytes asked for", "headers": {"Content-Range": {"required": True,
                                                                                           "schema": STR}},
              "content": {OCTETS_MEDIA: {"schema": BINARY}}}},
    errors=(400, (403, error(403, why="Forbidden: a bad or expired signature, or bytes it does not grant")), 404),
    params=[query("r", STR, "the granted bytes first-last, as signed"), query("exp", STR, "expiry, as signed"),
            query("tok", STR, "the Hub token, as signed"), query("sig", STR, "the signature"),
            {"name": "Range", "in": "header", "required": False, "schema": STR,
             "description": "bytes=S-E within the granted bytes"}])
CAS_CHUNK = doc(ok={200: {"description": "a shard with footer holding the xorb of the chunk (spec §7.5)",
                          "content": {OCTETS_MEDIA: {"schema": BINARY}}}},
                errors=(*CAS_ERRORS, (404, error(404, why="no stored xorb is indexed under this chunk"))))

# -- buckets ---------------------------------------------------------------------------------------

BUCKET_MISSING = (404, error(404, why="RepoNotFound: a missing bucket, or one private to the caller (the two "
                                      "are indistinguishable; an anonymous caller gets 401 for both)"))
BUCKET_ERRORS = (400, 401, BUCKET_MISSING)
BUCKET_PRIVATE = {"type": ["boolean", "null"], "description": "what older clients send instead of visibility"}
SCHEMAS["BucketInfo"] = obj("id", "private", "createdAt", "size", "totalFiles", id=STR, _id=STR, author=STR,
                            private=BOOL, createdAt=DATE, updatedAt=DATE,
                            size={**INT, "description": "bytes, all files"}, totalFiles=INT)
SCHEMAS["BucketEntry"] = {"oneOf": [
    obj("type", "path", "size", "xetHash", "mtime", "uploadedAt", type={"const": "file"}, path=STR, size=INT,
        xetHash={**SHA256, "description": "the file's Xet file ID"},
        mtime={**DATE, "description": "the client's modification time"}, uploadedAt=DATE),
    obj("type", "path", type={"const": "directory"}, path=STR,
        uploadedAt={**DATE, "description": "the last write below it"}),
]}
CREATE_BUCKET = doc(
    ok={200: json_ok(obj("url", "name", "id", url=STR, name=STR, id=STR))},
    errors=(400, 401, 403, (409, error(409, obj("error", "url", error=STR, url=STR),
                                       "Conflict: the bucket exists already (url)")), 413),
    body=json_request(obj(visibility={"enum": ["private", "public"]}, private=BUCKET_PRIVATE,
                          resourceGroupId={"type": "string", "description": "ignored"},
                          region={"type": "string", "description": "ignored"}), required=False))
BUCKET_INFO = doc(ok={200: json_ok(ref("BucketInfo"))}, errors=BUCKET_ERRORS)
LIST_BUCKETS = doc(ok={200: json_ok(array(ref("BucketInfo")), "the buckets of the namespace the caller may see",
                                    headers=LINK)},
                   errors=(400, (401, error(401, why="Unauthorized: namespace 'me' without a token")),
                           (404, error(404, why="NotFound: no user or organization has this name"))),
                   params=[query("search", STR, "a part of the bucket's name"), CURSOR])
DELETE_BUCKET = doc(ok={200: json_ok(EMPTY)}, errors=(*BUCKET_ERRORS, 403))
BUCKET_SETTINGS = doc(ok={200: json_ok(EMPTY)}, errors=(*BUCKET_ERRORS, 403, 413),
                      body=json_request(obj(private=BUCKET_PRIVATE, visibility={"enum": ["private", "public"]})))
BUCKET_TREE_PARAMS = [query("recursive", FLAG, "false: only the files and folders just below (default: every file "
                                               "below)"), CURSOR]
BUCKET_TREE = doc(ok={200: json_ok(array(ref("BucketEntry")), headers=LINK)}, errors=BUCKET_ERRORS,
                  params=BUCKET_TREE_PARAMS)
BUCKET_TREE_PREFIX = doc(ok={200: json_ok(array(ref("BucketEntry")), "the entries below the folder (a file: "
                                          "itself)", headers=LINK)},
                         errors=BUCKET_ERRORS, params=[rest("a folder or file path"), *BUCKET_TREE_PARAMS])
BUCKET_PATHS_INFO = doc(ok={200: json_ok(array(ref("BucketEntry")), "the files among the paths")},
                        errors=(*BUCKET_ERRORS, 413), body=json_request(obj("paths", paths=array(STR))))
BUCKET_OP = {"oneOf": [
    obj("type", "path", "xetHash", type={"const": "addFile"}, path=STR, xetHash=SHA256, mtime=INT,
        contentType={"type": "string", "description": "ignored"}),
    obj("type", "path", "xetHash", "sourceRepoType", "sourceRepoId", type={"const": "copyFile"}, path=STR,
        xetHash=SHA256, mtime=INT, sourceRepoType={"enum": ["bucket", "model", "dataset", "space"]},
        sourceRepoId=STR),
    obj("type", "path", type={"const": "deleteFile"}, path=STR),
]}
BATCH_FAILED = obj("failed", failed=array(obj("path", "error", path=STR, error=STR)))
BUCKET_BATCH = doc(
    ok={200: json_ok(BATCH_FAILED, "the operations that failed (empty: all were applied)")},
    errors=(*BUCKET_ERRORS, 403, 413, (422, error(422, obj("error", "failed", error=STR, failed=BATCH_FAILED[
        "properties"]["failed"]), "Unprocessable: every operation failed (listed)"))),
    body={"required": True, "content": {"application/x-ndjson": {"schema": {
        "type": "string", "description": "one JSON operation per line", "x-operation": BUCKET_OP}}}})
BUCKET_XET_READ_TOKEN = doc(ok={200: json_ok(XET_TOKEN, "a read token, in the body and the headers",
                                             XET_TOKEN_HEADERS)}, errors=BUCKET_ERRORS)
BUCKET_XET_WRITE_TOKEN = doc(ok={200: json_ok(XET_TOKEN, "a write token, in the body and the headers",
                                              XET_TOKEN_HEADERS)}, errors=(*BUCKET_ERRORS, 403))
BUCKET_RESOLVE_PARAMS = [rest("the file's path"), {"name": "Range", "in": "header", "required": False,
                                                   "schema": STR, "description": "bytes=A-B, bytes=A- or bytes=-N"}]
BUCKET_RESOLVE_ERRORS = (400, 401, (404, error(404, why="RepoNotFound or EntryNotFound")), 416)
BUCKET_FILE_HEADERS = {
    "ETag": {"required": True, "schema": STR, "description": "the Xet file ID, quoted"},
    "X-Linked-Size": {"required": True, "schema": STR, "description": "the size"},
    "X-Xet-Hash": {"required": True, "schema": SHA256, "description": "the Xet file ID"},
    "X-Xet-Refresh-Route": {"required": True, "schema": STR, "description": "the bucket's read-token route"},
    "Link": {"required": True, "schema": STR, "description": '<read-token route>; rel="xet-auth"'},
}
BUCKET_RESOLVE = doc(ok=resolve_ok(head=False, headers=BUCKET_FILE_HEADERS), errors=BUCKET_RESOLVE_ERRORS,
                     params=BUCKET_RESOLVE_PARAMS)
BUCKET_RESOLVE_HEAD = doc(ok=resolve_ok(head=True, headers=BUCKET_FILE_HEADERS), errors=BUCKET_RESOLVE_ERRORS,
                          params=BUCKET_RESOLVE_PARAMS, head=True)

# -- inference -------------------------------------------------------------------------------------

INFERENCE_RUN = doc(
    ok={200: json_ok(ANY, "what the model's pipeline returns", headers={
        "X-Repo-Commit": {"required": True, "schema": SHA1},
        "X-Inference-Task": {"required": True, "schema": STR}})},
    errors=(400, 401, 404, 413, (422, error(422, why="Unprocessable: the model could not be loaded"))),
    params=[query("revision", STR, "default: main")],
    body=json_request({**obj("inputs", inputs=ANY, parameters={"type": "object"}, options={"type": "object"}),
                       "additionalProperties": False}),
)
# -- security and audit ------------------------------------------------------------------------------

SCAN_STATUS = doc(ok={200: json_ok(ref("RepoScanStatus"), "the pickle scans of the default branch")},
                  errors=(400, 401, 404, TOO_MANY_FILES))
AUDIT_LOG = doc(
    ok={200: {"description": "events as JSON lines, in time order", "content": {"application/x-ndjson": {
        "schema": {"type": "string", "description": "one AuditEvent object per line"}}}}},
    errors=(400, 401, 403),
    params=[query("since", STR, "ISO 8601: events at or after it (default: the last `limit` events)"),
            query("action", STR, "an action name, or a prefix ending in *"),
            query("actor", STR, "a user name"), query("limit", INT, "1 to 10000 (default 1000)")],
)
INFERENCE_STATUS = doc(ok={200: json_ok(obj("streams_cancelled", streams_cancelled=INT))}, errors=(401, 403))
OPENAI_ERRORS = {"errors": (400, 401, 404, 413, 422), "error_schema": ref("OpenAIError")}
MESSAGES = array(obj("role", role={"enum": ["system", "developer", "user", "assistant", "tool"]},
                     content={"anyOf": [STR, array(obj("type", "text", type={"const": "text"}, text=STR)),
                                        {"type": "null"}]}), minItems=1)


def completion(required: str, **fields: dict) -> dict:
    return doc(
        ok={200: {"description": "the completion; with stream: server-sent events (data: chunk ... data: [DONE])",
                  "content": {JSON: {"schema": ref("Completion")}, "text/event-stream": {"schema": STR}}}},
        body=json_request({"allOf": [ref("GenerationOptions"), obj("model", required, **fields)]}),
        **OPENAI_ERRORS,
    )


CHAT_COMPLETIONS = completion("messages", messages=MESSAGES, max_completion_tokens=INT)
COMPLETIONS = completion("prompt", prompt={"anyOf": [STR, array(STR, minItems=1, maxItems=1)]})
MODELS = doc(ok={200: json_ok(obj("object", "data", object={"const": "list"}, data=array(ref("ModelObject"))))},
             errors=(401,), error_schema=ref("OpenAIError"))
MODEL = doc(ok={200: json_ok(ref("ModelObject"))}, **OPENAI_ERRORS)

# -- viewer ----------------------------------------------------------------------------------------

VIEWER_INFO = doc(ok={200: json_ok(obj("dataset_info", dataset_info={"type": "object"}))}, errors=(400, 401, 404))
VIEWER_ROWS = doc(ok={200: json_ok(obj("config", "split", "features", "rows", "num_rows_total", config=STR,
                                       split=STR, features=array(obj("name", "type", name=STR, type=ANY)),
                                       rows=array(obj("row_idx", "row", row_idx=INT, row={"type": "object"})),
                                       num_rows_total=INT))},
                  errors=(400, 401, 404))

DESCRIPTION = (
    "The Hugging Face Hub's HTTP API as the stock `huggingface_hub` client, git and git-lfs speak it, "
    "plus the dataset viewer, inference and OpenAI-compatible routes. Errors are `{\"error\": message}` "
    "with `X-Error-Code` and `X-Error-Message` headers; a private repo is a 404 RepoNotFound to whoever "
    "may not read it, exactly as a missing one."
)

# -- the schema ------------------------------------------------------------------------------------


def routes_of(app: FastAPI) -> list:
    """Every APIRoute of ``app`` with its full path, the routers' routes included (FastAPI 0.16x keeps
    an included router nested; older versions copy its routes into ``app.routes``)."""
    nested = getattr(fastapi.routing, "iter_route_contexts", None)
    found = nested(app.routes) if nested else app.routes
    return [r for r in found if isinstance(getattr(r, "original_route", r), APIRoute)]


def openapi(app: FastAPI) -> dict:
    """The app's schema (built once): FastAPI's paths, each operation's responses exactly as its route
    declared them, the shared path parameters described once, and the components above."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes)
    declared = {(r.path_format, m.lower()): r.responses for r in routes_of(app) if r.include_in_schema
                for m in r.methods}
    for path, item in schema["paths"].items():
        for method, op in item.items():
            op["responses"] = {str(k): v for k, v in declared[path, method].items()}
            for p in op.get("parameters", ()):
                if p["in"] == "path" and p["name"] in PATH_PARAMS:
                    p.update(PATH_PARAMS[p["name"]])
    # replaces FastAPI's components, which only held the models of the 422 answer dropped above
    schema["components"] = {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES}
    schema["security"] = SECURITY
    app.openapi_schema = schema
    return schema

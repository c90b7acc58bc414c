"""Schemathesis hooks for ``test_fuzz.py``, loaded through ``SCHEMATHESIS_HOOKS``: how to send the bodies
schemathesis has no serializer for, which generated URLs to drop, how to steer path parameters to what
the test made (``$COVE_FUZZ_STEER``), and a count of what was sent (written to ``$COVE_FUZZ_COUNTS``)."""

import atexit
import collections
import json
import os
import zlib
from urllib.parse import unquote

import schemathesis
from hypothesis import strategies as st

# -- bodies -----------------------------------------------------------------------------------------

# git's pkt-line bodies: arbitrary bytes (git http-backend must refuse the malformed ones cleanly)
for media in ("application/x-git-upload-pack-request", "application/x-git-receive-pack-request"):
    schemathesis.openapi.media_type(media, st.binary(max_size=2048))


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value) -> bytes:
    """The commit body: the schema's list of lines, one JSON object a line."""
    lines = value if isinstance(value, list) else [value]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


# -- URLs -------------------------------------------------------------------------------------------


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters) -> bool:
    """Drop cases whose URL would not have the operation's shape: schemathesis puts a non-string value
    (negative mode) into the path as ``str(value)``, unencoded, so a ``#``, ``?`` or ``/`` in it cuts or
    splits the path and the request reaches another route (a 405 there says nothing about this one)."""
    return not any(not isinstance(v, str) and any(c in str(v) for c in "#?/")
                   for v in (path_parameters or {}).values())


#: What the test made, URL-ready: ``{"repos": [[rtype, ns, name], ...], "rest": [...], "repo_id": [...]}``.
STEER: dict[str, list] = json.loads(os.environ.get("COVE_FUZZ_STEER") or "{}")


def _pick(value, choices: list):
    """One of ``choices``, or None (keep the generated value) one time in ``len(choices) + 1``. A hash
    of the generated value decides, so a derandomized run stays the same run."""
    i = zlib.crc32(repr(value).encode()) % (len(choices) + 1)
    return choices[i] if i < len(choices) else None


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    """Send most cases to things that exist (random names only ever reach a 404): a repo of the test's,
    with its type where the path has one, a revision or file of it, the id of a repo."""
    params = path_parameters or {}
    if "name" in params and (repo := _pick((params.get("ns"), params["name"]), STEER.get("repos", []))):
        if "rtype" in params:
            params["rtype"] = repo[0]
        params["ns"], params["name"] = repo[1], repo[2]
    for key in ("rest", "repo_id"):
        if key in params and (value := _pick(params[key], STEER.get(key, []))) is not None:
            params[key] = value
    return path_parameters


@schemathesis.hook
def before_call(ctx, case, kwargs) -> None:
    """A steered ``rest`` (``main/sub/a.txt``) keeps its slashes on the wire, as the Hub clients send a
    file path; schemathesis percent-encodes path parameters after :func:`map_path_parameters`."""
    rest = (case.path_parameters or {}).get("rest")
    if isinstance(rest, str) and unquote(rest) in STEER.get("rest", ()):
        case.path_parameters["rest"] = unquote(rest)


# -- figures ----------------------------------------------------------------------------------------

#: "operation status" -> requests sent.
SENT: collections.Counter = collections.Counter()


@schemathesis.hook
def after_call(ctx, case, response) -> None:
    SENT[f"{case.operation.label} {response.status_code}"] += 1


@atexit.register
def _write_counts() -> None:
    if os.environ.get("COVE_FUZZ_COUNTS"):
        with open(os.environ["COVE_FUZZ_COUNTS"], "w") as f:
            json.dump(dict(SENT), f)

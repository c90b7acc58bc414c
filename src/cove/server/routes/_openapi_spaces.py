"""The OpenAPI descriptions of the Space routes (routes/spaces.py), built with :mod:`._openapi`'s helpers."""

from __future__ import annotations

from cove.server.routes._openapi import ANY, BOOL, INT, STR, doc, json_ok, json_request, obj, query

RUNTIME_SCHEMA = obj("stage", "hardware", stage=STR, hardware=obj(current=ANY, requested=ANY), gcTimeout=ANY,
                     errorMessage=ANY, sdk=ANY, sdkVersion=ANY)
KEY_VALUE = obj("key", key=STR, value=STR, description=STR)
KEY = obj("key", key=STR)
SETTINGS_MAP = {"type": "object", "additionalProperties": obj(value=STR, description=STR, updatedAt=STR)}

RUNTIME = doc(ok={200: json_ok(RUNTIME_SCHEMA)}, errors=(401, 404))
RESTART = doc(ok={200: json_ok(RUNTIME_SCHEMA)}, errors=(401, 403, 404),
              params=[query("factory", {"type": "string", "enum": ["true", "false"]}, "rebuild the venv too")])
PAUSE = doc(ok={200: json_ok(RUNTIME_SCHEMA)}, errors=(401, 403, 404))
SLEEPTIME = doc(ok={200: json_ok(RUNTIME_SCHEMA)}, errors=(400, 401, 403, 404),
                body=json_request(obj("seconds", seconds=INT)))
HARDWARE = doc(ok={200: json_ok(RUNTIME_SCHEMA)}, errors=(400, 401, 403, 404),
               body=json_request(obj("flavor", flavor=STR, sleepTimeSeconds=INT)))
SETTINGS_GET = doc(ok={200: json_ok(SETTINGS_MAP)}, errors=(401, 403, 404))
SETTINGS_PUT = doc(ok={200: json_ok(SETTINGS_MAP)}, errors=(400, 401, 403, 404), body=json_request(KEY_VALUE))
SETTINGS_DELETE = doc(ok={200: json_ok(SETTINGS_MAP)}, errors=(400, 401, 403, 404), body=json_request(KEY))
LOGS = doc(ok={200: {"description": "server-sent events: data: {data, timestamp}",
                     "content": {"text/event-stream": {"schema": STR}}}}, errors=(400, 401, 403, 404))
HOST = doc(ok={200: json_ok(obj("host", "subdomain", host=STR, subdomain=STR))}, errors=(404,))
HARDWARE_LIST = doc(ok={200: json_ok({"type": "array", "items": obj("name", name=STR, prettyName=STR)})})
DUPLICATE = doc(ok={200: json_ok(obj("url", url=STR))}, errors=(400, 401, 403, 404, 409),
                body=json_request(obj("repository", repository=STR, private=BOOL, visibility=STR)))

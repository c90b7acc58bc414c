"""Inference: ``POST /api/inference/{ns}/{name}`` and the OpenAI-compatible ``/v1`` endpoints.

``/api/inference`` takes ``{"inputs": ..., "parameters": {...}}`` and answers what the model's pipeline
returns (the task is the card's ``pipeline_tag``); speech recognition also takes the audio file itself as
the body (``Content-Type: audio/wav`` ..., as Hugging Face's API does), or base64 in ``inputs``. ``/v1/models[/{ns}/{name}]``, ``/v1/chat/completions`` and
``/v1/completions`` speak the OpenAI wire format for text-generation models, ``model`` being the repo
id (``ns/name``, optionally ``ns/name@revision``); ``stream: true`` answers server-sent events
(``data: {chunk}`` ... ``data: [DONE]``). The official ``openai`` client works against
``base_url=<hub>/v1`` with a Cove token as its API key. Access follows the download rules: a private
repo is a 404 to whoever may not read it. ``GET /api/inference/status`` (admins) shows what is loaded.

The model page's widget posts a form to ``/{ns}/{name}/inference`` (the web UI runs no JavaScript)
and gets the card page back with the result.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, CoveError, Forbidden, Unauthorized
from cove.server.routes import _openapi as api
from cove.server.routes._common import bytes_body, error_response, form_body, hub_of, json_body, principal
from cove.server.routes.web import WebRoute, check_csrf, signed_in
from cove.server.routes.web_repo import card_page
from cove.server.services.inference import (
    Completion,
    GenerationRequest,
    Inference,
    StopText,
    Target,
    completion_id,
    streamer_for,
)

router = APIRouter(tags=["inference"])
DEFAULT_MAX_TOKENS = 256
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def inference_of(request: Request) -> Inference:
    return hub_of(request).inference


# -- /api/inference -------------------------------------------------------------------------------


def _raw_file(request: Request) -> bool:
    """A body that is an image or audio file itself (as HF's inference API takes them), not JSON."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind.startswith(("image/", "audio/")) or kind == "application/octet-stream"


@router.post("/api/inference/{ns}/{name}", **api.INFERENCE_RUN)
async def run(ns: str, name: str, request: Request):
    if _raw_file(request):  # an image or audio file itself as the body, as HF's API takes them
        body = {"inputs": await bytes_body(request)}
    else:
        body = await json_body(request)
    unknown = set(body) - {"inputs", "parameters", "options"}
    if unknown:
        raise BadRequest(
            f'Unknown field(s) {", ".join(sorted(unknown))}: send {{"inputs": ..., "parameters": {{...}}}}'
        )
    if "inputs" not in body:
        raise BadRequest('Missing "inputs": send {"inputs": ..., "parameters": {...}}')
    inference = inference_of(request)
    target = await run_in_threadpool(
        inference.target, principal(request), f"{ns}/{name}", request.query_params.get("revision") or "main"
    )
    out = await inference.call(inference.run, target, body["inputs"], body.get("parameters"))
    return JSONResponse(out, headers={"X-Repo-Commit": target.sha, "X-Inference-Task": target.task})


@router.get("/api/inference/status", **api.INFERENCE_STATUS)
async def status(request: Request):
    """What is loaded and how much of the budget it takes (admins only: it names private repos)."""
    who = principal(request)
    if who is None:
        raise Unauthorized("Pass an admin token to see the inference status")
    if not who.is_admin:
        raise Forbidden("Only admins may see the inference status")
    inference = inference_of(request)
    return {**inference.models.status(), "streams_cancelled": inference.streams_cancelled}


# -- OpenAI-compatible ----------------------------------------------------------------------------


def openai_error(err: CoveError) -> Response:
    """The error body OpenAI clients read (``{"error": {"message", "type", "code"}}``), Cove's headers kept."""
    response = error_response(err)
    status = response.status_code
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "invalid_request_error",
    }.get(status, "server_error")
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return JSONResponse(
        {"error": {"message": err.message, "type": kind, "code": err.code, "param": None}},
        status_code=status,
        headers=headers,
    )


def _target(request: Request, body: dict) -> Target:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest('"model" must be a repo id such as "alice/tiny-llama"')
    repo_id, _, revision = model.partition("@")
    target = inference_of(request).target(principal(request), repo_id, revision or "main")
    if target.task != "text-generation":
        raise BadRequest(
            f"{repo_id} is a {target.task} model: /v1 serves text-generation models "
            "(use /api/inference for the others)"
        )
    return target


def _number(body: dict, key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise BadRequest(f'"{key}" must be a number from {lo} to {hi}')
    return float(value)


def _content(message: dict, i: int) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
    ):
        return "".join(p["text"] for p in content)
    raise BadRequest(f"messages[{i}].content must be a string or a list of text parts")


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest('"messages" must be a non-empty list of {"role": ..., "content": ...}')
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest(f"messages[{i}] needs a role, one of {', '.join(ROLES)}")
        out.append({"role": ROLES[m["role"]], "content": _content(m, i)})
    return out


def parse_generation(body: dict, *, chat: bool, cap: int) -> GenerationRequest:
    """The OpenAI request fields -> a validated :class:`GenerationRequest`; unknown extras are ignored."""
    n = body.get("n")
    if n not in (None, 1):
        raise BadRequest('"n" must be 1: one completion per request')
    if body.get("stream") not in (None, True, False):
        raise BadRequest('"stream" must be true or false')
    max_tokens = (
        body.get("max_completion_tokens")
        if chat and body.get("max_completion_tokens") is not None
        else body.get("max_tokens")
    )
    if max_tokens is None:
        max_tokens = min(DEFAULT_MAX_TOKENS, cap)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 0 < max_tokens <= cap:
        raise BadRequest(f'"max_tokens" must be an integer from 1 to {cap}')
    options: dict[str, Any] = {}
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    if temperature is not None:
        options["do_sample"] = temperature > 0
        if temperature > 0:
            options["temperature"] = temperature
    if top_p is not None and temperature != 0:
        options["do_sample"] = True
        if top_p > 0:
            options["top_p"] = top_p
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BadRequest('"seed" must be an integer')
        options["seed"] = seed
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop) if isinstance(stop, list) else ()
    if stop is not None and (not all(isinstance(s, str) and s for s in stops) or len(stops) > 4):
        raise BadRequest('"stop" must be a string or a list of up to 4 non-empty strings')
    if chat:
        return GenerationRequest(None, _messages(body), max_tokens, options, stops)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest('"prompt" must be a string (one prompt per request)')
    return GenerationRequest(prompt, None, max_tokens, options, stops)


def _include_usage(body: dict) -> bool:
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest('"stream_options" must be an object such as {"include_usage": true}')
    return bool((options or {}).get("include_usage"))


def _usage(c: Completion) -> dict:
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    }


async def _completion(request: Request, *, chat: bool) -> Response:
    try:
        body = await json_body(request)
        target = await run_in_threadpool(_target, request, body)
        inference = inference_of(request)
        req = parse_generation(body, chat=chat, cap=inference.settings.inference_max_new_tokens)
        meta = {
            "id": completion_id("chatcmpl" if chat else "cmpl"),
            "created": int(time.time()),
            "model": body["model"],
        }
        if body.get("stream"):
            return await _stream(inference, target, req, meta, chat=chat, include_usage=_include_usage(body))
        c = await inference.call(inference.complete, target, req)
    except CoveError as err:
        return openai_error(err)
    if chat:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": c.text},
            "logprobs": None,
            "finish_reason": c.finish_reason,
        }
    else:
        choice = {"index": 0, "text": c.text, "logprobs": None, "finish_reason": c.finish_reason}
    return JSONResponse(
        {
            **meta,
            "object": "chat.completion" if chat else "text_completion",
            "choices": [choice],
            "usage": _usage(c),
            "system_fingerprint": target.sha,
        },
        headers={"X-Repo-Commit": target.sha},
    )


async def _stream(
    inference: Inference,
    target: Target,
    req: GenerationRequest,
    meta: dict,
    *,
    chat: bool,
    include_usage: bool,
) -> Response:
    """Start generating; answer an error as JSON if it fails before the first token, else stream."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future = loop.create_future()

    def made(streamer: Any) -> None:
        loop.call_soon_threadsafe(lambda: ready.done() or ready.set_result(streamer))

    job = asyncio.ensure_future(inference.call(inference.complete, target, req, streamer_for, made))
    job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if nobody awaits it
    await asyncio.wait({ready, job}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        job.result()  # raises the error (model too large, bad messages ...) as a plain response
    streamer = ready.result()
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(text: str | None, finish: str | None, *, role: bool = False) -> str:
        if chat:
            delta = (
                {"role": "assistant", "content": ""} if role else {} if text is None else {"content": text}
            )
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        return event({**meta, "object": kind, "system_fingerprint": target.sha, "choices": [choice]})

    async def events() -> AsyncIterator[str]:
        stop = StopText(req.stop)
        try:
            if chat:
                yield chunk(None, None, role=True)
            async for piece in streamer:
                shown = stop.feed(piece)
                if shown:
                    yield chunk(shown, None)
            rest = stop.flush()
            if rest:
                yield chunk(rest, None)
            try:
                c = await job
            except CoveError as err:
                yield event({"error": {"message": err.message, "type": "server_error", "code": err.code}})
                yield "data: [DONE]\n\n"
                return
            yield chunk(None, c.finish_reason)
            if include_usage:
                yield event({**meta, "object": kind, "choices": [], "usage": _usage(c)})
            yield "data: [DONE]\n\n"
        finally:
            streamer.cancelled = True  # the client left early: stop generating at the next token

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Repo-Commit": target.sha},
    )


def event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/v1/chat/completions", **api.CHAT_COMPLETIONS)
async def chat_completions(request: Request):
    return await _completion(request, chat=True)


@router.post("/v1/completions", **api.COMPLETIONS)
async def completions(request: Request):
    return await _completion(request, chat=False)


def model_object(repo) -> dict:
    return {
        "id": repo.repo_id,
        "object": "model",
        "created": int(repo.created_at.timestamp()),
        "owned_by": repo.namespace,
    }


@router.get("/v1/models", **api.MODELS)
async def models(request: Request):
    try:
        repos = await run_in_threadpool(inference_of(request).text_generation_models, principal(request))
    except CoveError as err:
        return openai_error(err)
    return {"object": "list", "data": [model_object(r) for r in repos]}


@router.get("/v1/models/{ns}/{name}", **api.MODEL)
async def model(ns: str, name: str, request: Request):
    try:
        target = await run_in_threadpool(_target, request, {"model": f"{ns}/{name}"})
    except CoveError as err:
        return openai_error(err)
    return model_object(target.repo)


# -- the model page's widget ------------------------------------------------------------------------
# A form on the card page (pages run no JavaScript: their CSP says script-src 'none'); it posts here
# with the browser's session (and its CSRF token) and gets the card page back with the result.

web_router = APIRouter(route_class=WebRoute, include_in_schema=False)
#: What the widget asks for on top of the pipeline's defaults.
WIDGET_PARAMETERS: dict[str, dict] = {
    "text-classification": {"top_k": None},
    "fill-mask": {"top_k": 5},
    "text-generation": {"max_new_tokens": 48, "do_sample": False},
    "image-classification": {"top_k": 5},
}
#: Widgets that take an uploaded image instead of text.
IMAGE_WIDGETS = ("image-classification", "zero-shot-image-classification")


def widget_inputs(task: str, text: str) -> Any:
    """The widget's text -> the pipeline's inputs (sentence-similarity: one sentence per line)."""
    text = text.strip()
    if not text:
        raise BadRequest("Type a text first")
    if task == "sentence-similarity":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise BadRequest(
                "Type the source sentence on the first line and the sentences to compare below it"
            )
        return {"source_sentence": lines[0], "sentences": lines[1:]}
    return text


def widget_view(task: str, inputs: Any, out: Any) -> dict:
    """A pipeline's output as the widget shows it: scores, entities, a vector or text."""
    if task in ("text-classification", "fill-mask", *IMAGE_WIDGETS):
        rows = out[0] if out and isinstance(out[0], list) else out
        key = "token_str" if task == "fill-mask" else "label"
        return {"kind": "scores", "rows": [(str(r[key]), float(r["score"])) for r in rows]}
    if task == "sentence-similarity":
        return {
            "kind": "scores",
            "rows": list(zip(inputs["sentences"], (float(x) for x in out), strict=True)),
        }
    if task == "token-classification":
        return {
            "kind": "entities",
            "rows": [
                (str(r.get("word", "")), str(r.get("entity_group") or r.get("entity")), float(r["score"]))
                for r in out
            ],
        }
    if task == "feature-extraction":
        shape, flat = [], out
        while isinstance(flat, list) and flat:
            shape.append(len(flat))
            flat = flat[0]
        first = out
        while isinstance(first, list) and first and isinstance(first[0], list):
            first = first[0]
        return {"kind": "vector", "shape": " × ".join(map(str, shape)), "head": [float(x) for x in first[:8]]}
    if task == "automatic-speech-recognition":
        return {"kind": "text", "text": str(out["text"]).strip()}
    return {"kind": "text", "text": str(out[0]["generated_text"])}


@web_router.post("/{ns}/{name}/inference", response_class=HTMLResponse)
async def widget(ns: str, name: str, request: Request):
    form = await form_body(request)
    if signed_in(request) is not None:
        check_csrf(request, form.get("csrf"))  # the session cookie may only act from this site's pages
    text = str(form.get("inputs") or "")[:10_000]
    upload = form.get("image")
    image = await upload.read() if hasattr(upload, "read") else b""  # a file field (multipart form)
    state: dict[str, Any] = {"text": text}
    inference = inference_of(request)
    target = await run_in_threadpool(inference.target, principal(request), f"{ns}/{name}")  # hidden: a 404 page
    try:
        if target.task in IMAGE_WIDGETS and not image:
            raise BadRequest("Choose an image first")
        if target.task == "automatic-speech-recognition":  # an uploaded file (the form body is bounded)
            upload = form.get("audio")
            inputs = await upload.read() if hasattr(upload, "read") else b""
            if not inputs:
                raise BadRequest("Choose an audio file first (WAV, FLAC, OGG or MP3)")
        else:
            inputs = image if target.task in IMAGE_WIDGETS else widget_inputs(target.task, text)
        parameters = WIDGET_PARAMETERS.get(target.task, {})
        if target.task == "zero-shot-image-classification":  # the labels to score, comma-separated
            labels = [label.strip() for label in text.split(",") if label.strip()]
            if not labels:
                raise BadRequest("Type the candidate labels, separated by commas")
            parameters = {"candidate_labels": labels[:50]}
        out = await inference.call(inference.run, target, inputs, parameters)
        state["result"] = widget_view(target.task, inputs, out)
    except CoveError as err:
        state["error"] = err.message
    return await run_in_threadpool(card_page, request, ns, name, state)


router.include_router(web_router)

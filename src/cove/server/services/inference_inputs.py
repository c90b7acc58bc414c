"""What ``/api/inference`` accepts as ``inputs`` for each task, checked before a model is loaded: text, the
structured inputs of some tasks, and files (images, audio) as the raw body's bytes or base64 text in JSON.
A wrong shape is a 400 whose message says the right one."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cove.errors import BadRequest

#: Tasks whose input is an image: the raw request body, or base64 text in JSON.
IMAGE_TASKS = ("image-classification", "zero-shot-image-classification", "image-feature-extraction")
#: Tasks whose input is an audio file, taken the same ways.
AUDIO_TASKS = ("automatic-speech-recognition",)


def checked_inputs(task: str, inputs: Any) -> Any:
    """``inputs`` as the task's pipeline takes them (files decoded from base64), or a 400."""
    if task in IMAGE_TASKS:
        return file_bytes(task, inputs, "an image", "image/png, image/jpeg ...")
    if task in AUDIO_TASKS:
        return file_bytes(task, inputs, "an audio file (WAV, FLAC, OGG or MP3)", "audio/wav ...")
    check_inputs(task, inputs)
    return inputs


def file_bytes(task: str, inputs: Any, what: str, media: str) -> bytes:
    """A file input: raw bytes as they came, or base64 text (optionally a ``data:...;base64,`` URL, or
    ``{"image": ...}`` as HF's zero-shot API sends it) decoded. Decoding the file itself is the
    pipeline's (a corrupt one is a 400 there)."""
    if isinstance(inputs, dict) and set(inputs) == {"image"}:
        inputs = inputs["image"]
    if isinstance(inputs, str) and inputs:
        text = inputs.split(",", 1)[1] if inputs.startswith("data:") else inputs
        try:
            inputs = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{task} inputs must be {what} in base64; this text is not base64") from None
    if isinstance(inputs, bytes | bytearray) and inputs:
        return bytes(inputs)
    raise BadRequest(
        f"{task} takes {what}: send its bytes as the body (Content-Type {media}) or"
        f' {{"inputs": "<the file in base64>"}}'
    )


def check_inputs(task: str, inputs: Any) -> None:
    """Reject inputs of the wrong shape with a message that says the right one."""
    if task == "sentence-similarity":
        ok = (
            isinstance(inputs, dict)
            and isinstance(inputs.get("source_sentence"), str)
            and isinstance(inputs.get("sentences"), list)
            and inputs["sentences"]
            and all(isinstance(s, str) for s in inputs["sentences"])
        )
        if not ok:
            raise BadRequest(
                'sentence-similarity takes inputs {"source_sentence": "...", "sentences": ["...", ...]}'
            )
        return
    if task == "question-answering":
        if not (
            isinstance(inputs, dict)
            and isinstance(inputs.get("question"), str)
            and isinstance(inputs.get("context"), str)
        ):
            raise BadRequest('question-answering takes inputs {"question": "...", "context": "..."}')
        return
    if task == "text-generation" and isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        if not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in inputs
        ):
            raise BadRequest('chat inputs are a list of {"role": "...", "content": "..."} messages')
        return
    if isinstance(inputs, str) and inputs:
        return
    if isinstance(inputs, list) and inputs and all(isinstance(x, str) and x for x in inputs):
        return
    raise BadRequest(f"{task} takes inputs that are a non-empty string or a list of them")

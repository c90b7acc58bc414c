"""The OpenAI-compatible ``/v1`` endpoints, driven by the official ``openai`` client against ``cove serve``."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "what is the capital of france?"},
]


@pytest.fixture(scope="module")
def client(hub, repos) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{hub.url}/v1", api_key=repos.owner, max_retries=0, timeout=120)


def expected_chat(local, max_tokens: int) -> tuple[str, int, int]:
    """The local pipeline's greedy answer, and the prompt / completion token counts."""
    pipe = local["chat"]
    text = pipe(CHAT, max_new_tokens=max_tokens, do_sample=False, return_full_text=False)[0]["generated_text"]
    prompt = pipe.tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt")[
        "input_ids"
    ]
    prompt = prompt.reshape(1, -1)
    out = pipe.model.generate(prompt, max_new_tokens=max_tokens, do_sample=False)
    return text, prompt.shape[1], out.shape[1] - prompt.shape[1]


def test_chat_completion_equals_the_local_pipeline(client, repos, local):
    text, prompt_tokens, new_tokens = expected_chat(local, 12)
    r = client.chat.completions.create(model=repos.chat, messages=CHAT, max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and r.model == repos.chat and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == text
    assert r.choices[0].finish_reason == ("length" if new_tokens == 12 else "stop")
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (prompt_tokens, new_tokens)
    assert r.usage.total_tokens == prompt_tokens + new_tokens


def test_chat_completion_streams_the_same_text(client, repos):
    whole = client.chat.completions.create(model=repos.chat, messages=CHAT, max_tokens=12, temperature=0)
    stream = client.chat.completions.create(
        model=repos.chat,
        messages=CHAT,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == whole.choices[0].message.content
    assert len([p for p in pieces if p]) > 1  # it streamed, not one piece at the end
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_stop_sequences_cut_the_text_streaming_or_not(client, repos):
    whole = client.chat.completions.create(model=repos.chat, messages=CHAT, max_tokens=16, temperature=0)
    text = whole.choices[0].message.content
    stop = next(
        text[i : i + 2]
        for i in range(2, len(text) - 1)
        if text[i : i + 2].strip() and text.find(text[i : i + 2]) == i
    )
    want = text[: text.find(stop)]
    cut = client.chat.completions.create(
        model=repos.chat, messages=CHAT, max_tokens=16, temperature=0, stop=[stop]
    )
    assert cut.choices[0].message.content == want and cut.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model=repos.chat, messages=CHAT, max_tokens=16, temperature=0, stop=stop, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == want


def test_completions_equal_the_local_pipeline(client, repos, local):
    want = local["chat"]("hello world", max_new_tokens=8, do_sample=False, return_full_text=False)[0][
        "generated_text"
    ]
    r = client.completions.create(model=repos.chat, prompt="hello world", max_tokens=8, temperature=0)
    assert r.object == "text_completion" and r.choices[0].text == want
    streamed = client.completions.create(
        model=repos.chat, prompt="hello world", max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == want


def test_seeded_sampling_repeats(client, repos):
    def sample() -> str:
        r = client.chat.completions.create(
            model=repos.chat, messages=CHAT, max_tokens=10, temperature=1.0, top_p=0.9, seed=1234
        )
        return r.choices[0].message.content

    assert sample() == sample()


def test_models_lists_the_text_generation_models_the_caller_may_see(client, hub, repos):
    ids = {m.id for m in client.models.list()}
    assert {repos.chat, repos.private_chat} <= ids and repos.classifier not in ids
    other = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=repos.other, max_retries=0)
    ids = {m.id for m in other.models.list()}
    assert repos.chat in ids and repos.private_chat not in ids
    assert client.models.retrieve(repos.private_chat).owned_by == "ines"
    with pytest.raises(openai.NotFoundError):
        other.models.retrieve(repos.private_chat)


def test_errors_reach_the_client_as_openai_errors(client, hub, repos):
    with pytest.raises(openai.BadRequestError, match="text-generation"):
        client.chat.completions.create(model=repos.classifier, messages=CHAT)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ines/no-such-model", messages=CHAT)
    other = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=repos.other, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.create(model=repos.private_chat, messages=CHAT)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{hub.url}/v1", api_key="cove_wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError, match="n"):
        client.chat.completions.create(model=repos.chat, messages=CHAT, n=2)
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model=repos.chat, messages=CHAT, max_tokens=0)
    with pytest.raises(openai.BadRequestError, match="role"):
        client.chat.completions.create(model=repos.chat, messages=[{"role": "wizard", "content": "hi"}])
    r = client.chat.completions.create(model=repos.private_chat, messages=CHAT, max_tokens=2)  # the owner may
    assert r.choices[0].message.role == "assistant"


def test_a_client_that_leaves_mid_stream_stops_the_generation(hub, repos):
    admin = {"Authorization": f"Bearer {hub.user('inference-admin', admin=True)}"}

    def cancelled() -> int:
        return httpx.get(f"{hub.url}/api/inference/status", headers=admin).json()["streams_cancelled"]

    before = cancelled()
    body = {
        "model": repos.chat,
        "messages": CHAT,
        "max_tokens": 900,
        "temperature": 0,
        "stream": True,
        "stop": ["\u2603"],
    }  # a stop string the tiny model never writes: only leaving ends it early
    headers = {"Authorization": f"Bearer {repos.owner}"}
    with httpx.stream("POST", f"{hub.url}/v1/chat/completions", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert next(r.iter_lines()).startswith("data: {")
    deadline = time.monotonic() + 60
    while cancelled() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cancelled() == before + 1
    r = httpx.post(
        f"{hub.url}/v1/chat/completions",
        headers=headers,
        timeout=60,
        json={"model": repos.chat, "messages": CHAT, "max_tokens": 2},
    )
    assert r.status_code == 200  # the model is free again

"""huggingface_hub's ``InferenceClient`` against ``cove serve``: a model URL for ``/api/inference``, and
``base_url=<hub>/v1`` for chat completions."""

from __future__ import annotations

from huggingface_hub import InferenceClient

CHAT = [{"role": "user", "content": "what is the capital of france?"}]


def test_text_generation(hub, repos, local):
    # (text_classification is not here: the hosted API nests one input's labels in a second list, which
    # InferenceClient unwraps; /api/inference answers what cove.pipeline returns, one list; and text
    # generation returns the prompt too unless return_full_text=False, as the pipeline does)
    client = InferenceClient(model=f"{hub.url}/api/inference/{repos.chat}", token=repos.owner)
    want = local["chat"]("hello world", max_new_tokens=6, do_sample=False, return_full_text=False)
    assert (
        client.text_generation("hello world", max_new_tokens=6, do_sample=False, return_full_text=False)
        == want[0]["generated_text"]
    )


def test_chat_completion_streaming_or_not(hub, repos):
    client = InferenceClient(base_url=f"{hub.url}/v1", token=repos.owner)
    whole = client.chat_completion(messages=CHAT, model=repos.chat, max_tokens=8, temperature=0)
    assert whole.usage.completion_tokens <= 8 and whole.choices[0].message.role == "assistant"
    chunks = client.chat_completion(messages=CHAT, model=repos.chat, max_tokens=8, temperature=0, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content

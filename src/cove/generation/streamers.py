"""Streaming detokenization: token ids in (from ``generate``), text chunks out, from a thread or async.

``IncrementalDecoder`` turns ids into text pieces with bounded work per token: it decodes a short
window ``ids[prefix:]`` and emits what that adds over ``ids[prefix:read]`` (the scheme of
text-generation-inference), so a piece of a word decodes in context ("##ing", a leading-space
marker, byte-fallback tokens) and text that ends in U+FFFD (an unfinished multi-byte character) is
held until the next token completes it. At the end the remainder of the full decode is emitted, so
the chunks always join to exactly ``tokenizer.decode(all_ids)``.

``TextIteratorStreamer`` feeds those pieces to a queue: run ``generate`` in a thread and iterate
(``for chunk in streamer``) or ``async for chunk in streamer``. ``TextStreamer`` prints them as they come
(transformers' names for both).
"""

from __future__ import annotations

import asyncio
import queue
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import torch

REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    """ids -> new text, one call per batch of ids.

    Args:
        tokenizer: anything with ``decode(ids, skip_special_tokens=...) -> str``.
        skip_special_tokens: passed to ``decode``.
    """

    def __init__(self, tokenizer: Any, *, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.ids: list[int] = []
        self.prefix = 0  # window start: context for decoding the tokens after ``read``
        self.read = 0  # ids before this index are already emitted
        self.emitted: list[str] = []

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special_tokens)

    def add(self, ids: list[int]) -> str:
        """Append ids; return the text they complete ("" while a character or word is unfinished)."""
        self.ids.extend(ids)
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        if after.endswith(REPLACEMENT) or not after.startswith(before) or len(after) == len(before):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return self._emit(after[len(before) :])

    def finish(self) -> str:
        """Whatever the full decode holds beyond the pieces already emitted."""
        full = self._decode(self.ids)
        done = "".join(self.emitted)
        rest = full[len(done) :] if full.startswith(done) else ""
        self.prefix = self.read = len(self.ids)
        return self._emit(rest)

    def _emit(self, text: str) -> str:
        if text:
            self.emitted.append(text)
        return text


class TextStreamer:
    """Print the decoded text to ``file`` (stdout) while ``generate(..., streamer=s)`` runs, ending with
    a newline; the printed text is exactly ``tokenizer.decode`` of what was streamed.

    Args:
        tokenizer: for ``decode``.
        skip_prompt: leave out the prompt (the first ``put``).
        skip_special_tokens: passed to ``decode`` (Cove's default, as its ``TextIteratorStreamer``;
            transformers decodes special tokens unless told ``skip_special_tokens=True``).
        file: where the text goes (default ``sys.stdout`` at the time of printing).

    Example::

        model.generate(ids, max_new_tokens=20, streamer=TextStreamer(tok, skip_prompt=True))
    """

    def __init__(
        self,
        tokenizer: Any,
        skip_prompt: bool = False,
        *,
        skip_special_tokens: bool = True,
        file: TextIO | None = None,
    ) -> None:
        self.decoder = IncrementalDecoder(tokenizer, skip_special_tokens=skip_special_tokens)
        self.skip_prompt = skip_prompt
        self.file = file
        self._prompt_pending = True

    def put(self, ids: torch.Tensor) -> None:
        """The prompt (first call) or one step's token, as a tensor of one row."""
        if self._prompt_pending:
            self._prompt_pending = False
            if self.skip_prompt:
                return
        text = self.decoder.add([int(i) for i in ids.reshape(-1).tolist()])
        if text:
            self.on_finalized_text(text)

    def end(self) -> None:
        self.on_finalized_text(self.decoder.finish(), stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Print ``text`` at once (transformers' hook: override it to send the text elsewhere)."""
        print(text, flush=True, end="\n" if stream_end else "", file=self.file or sys.stdout)


class TextIteratorStreamer:
    """A queue of decoded text chunks that ``generate(..., streamer=s)`` fills and a consumer drains.

    Args:
        tokenizer: for ``decode``.
        skip_prompt: leave out the prompt (the first ``put``).
        skip_special_tokens: passed to ``decode``.
        timeout: seconds a consumer waits for the next chunk before ``queue.Empty`` (None: forever).

    Example::

        streamer = TextIteratorStreamer(tok, skip_prompt=True)
        Thread(target=model.generate, args=(ids,), kwargs={"streamer": streamer}).start()
        text = "".join(streamer)
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        skip_prompt: bool = False,
        skip_special_tokens: bool = True,
        timeout: float | None = None,
    ) -> None:
        self.decoder = IncrementalDecoder(tokenizer, skip_special_tokens=skip_special_tokens)
        self.skip_prompt = skip_prompt
        self.timeout = timeout
        self.queue: queue.Queue[str | None] = queue.Queue()
        self._prompt_pending = True

    # --- producer side (called by generate) ----------------------------------------------------

    def put(self, ids: torch.Tensor) -> None:
        """The prompt (first call) or one step's token, as a tensor of one row."""
        ids_list = [int(i) for i in ids.reshape(-1).tolist()]
        if self._prompt_pending and self.skip_prompt:
            self._prompt_pending = False
            return
        self._prompt_pending = False
        text = self.decoder.add(ids_list)
        if text:
            self.queue.put(text)

    def end(self) -> None:
        text = self.decoder.finish()
        if text:
            self.queue.put(text)
        self.queue.put(None)

    # --- consumer side ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        item = self.queue.get(timeout=self.timeout)
        if item is None:
            raise StopIteration
        return item

    def __aiter__(self) -> TextIteratorStreamer:
        return self

    async def __anext__(self) -> str:
        item = await asyncio.to_thread(self.queue.get, True, self.timeout)
        if item is None:
            raise StopAsyncIteration
        return item

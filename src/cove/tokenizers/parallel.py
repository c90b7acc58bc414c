"""`encode_batch` on every core: threads over the compiled BPE cores, worker processes otherwise.

A large batch is cut into contiguous chunks by char count, the chunks are encoded at once with the
serial code (`Tokenizer._encode_batch_serial`), then joined in order and padded as one batch, so the
results are the serial ones (tests/tokenizers/test_parallel.py: every family, pairs, truncation with
overflow, padding, pre-tokenized input, byte offsets).

- Over a compiled core (byte-level or Llama-style BPE) the chunks go to threads (`encode_threaded`):
  tiktoken's merges (`encode_to_numpy` releases the GIL) and the large numpy passes of one thread run
  while another builds its Python lists. That is about half of a batch, which bounds the gain.
- Everything else (WordPiece, Unigram, WordLevel, BPE without a core) is Python holding the GIL per
  word: two threads measured no faster than one. There a pool of worker processes (`EncodePool`)
  each holds a copy of the tokenizer; the caller encodes its own chunk meanwhile, then rebuilds the
  workers' results from flat columns (`pack` / `unpack`: unpickled `Encoding` objects cost the caller
  two thirds of encoding them). The caller's share is learnt from each batch (`EncodePool._learn`).

A worker is `python -c ...serve()` over pipes (no fork: the caller may hold threads or torch; no
`spawn` either: that re-imports the user's `__main__`). It is sent the tokenizer.json, builds the
tokenizer and its compiled core, and says when it is ready; until then the caller encodes alone, in
slices of `WARMUP_SLICE` chars, so no call waits for a worker. Each request carries the truncation and
padding of the call (the transformers-style wrapper sets them per call); any other change to the
tokenizer (model, normalizer, pre-tokenizer, post-processor, added tokens, its flags) makes
`Tokenizer` start a new pool.

Threads: `COVE_NUM_THREADS`, else `RAYON_NUM_THREADS` (the knob of Hugging Face `tokenizers`), else
the CPUs this process may run on; the pool has one worker fewer (the caller is one).
`TOKENIZERS_PARALLELISM` set to a false value (`""`, `0`, `f`, `false`, `n`, `no`, `off`, any case,
as `tokenizers` reads it) keeps every batch in the calling thread. A process forked from one that
started a pool encodes alone, as `tokenizers` does after a fork.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate, chain
from typing import Any, BinaryIO

from cove.tokenizers.encoding import Encoding

# Below this many chars in a batch the caller encodes alone: a worker's share (~1 ms per 1,000 chars)
# must outweigh the pipe round trip (~2 ms) and rebuilding its results. `bench/tokenizers.py
# --threshold` measures the crossover; see docs/benchmarks.md for what a loaded machine gave.
MIN_CHARS = 100_000
# The same for threads over a compiled core (no processes: only the ~0.1 ms of starting threads).
THREAD_MIN_CHARS = 50_000
# While workers start, a large batch is encoded in slices of this many chars, checking between slices.
WARMUP_SLICE = 200_000
# The caller's share of a batch, against 1.0 per worker: it also rebuilds the workers' results.
CALLER_WEIGHT = 0.8
FALSE_VALUES = frozenset({"", "0", "f", "false", "n", "no", "off"})
_HEADER = struct.Struct("<Q")


def parallelism_enabled(environ: Any = None) -> bool:
    """False when TOKENIZERS_PARALLELISM holds one of `tokenizers`' false spellings."""
    value = (os.environ if environ is None else environ).get("TOKENIZERS_PARALLELISM")
    return value is None or value.strip().lower() not in FALSE_VALUES


def num_threads(environ: Any = None) -> int:
    """Threads a batch may use: COVE_NUM_THREADS, else RAYON_NUM_THREADS, else the usable CPUs."""
    environ = os.environ if environ is None else environ
    for name in ("COVE_NUM_THREADS", "RAYON_NUM_THREADS"):
        value = environ.get(name, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {value!r}") from None
            if n > 0:  # 0: the default, as rayon reads it
                return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def item_chars(item: Any) -> int:
    """Chars in one `encode_batch` input: a text, a pair, or pre-tokenized words."""
    if isinstance(item, str):
        return len(item)
    return sum(item_chars(x) for x in item) if isinstance(item, list | tuple) else 0


def cut(weights: Sequence[int], shares: Sequence[float]) -> list[tuple[int, int]]:
    """Contiguous (start, end) ranges of the items, one per share, each holding about its share of
    the total weight."""
    ends = list(accumulate(weights))
    total = ends[-1] if ends else 0
    bounds = [0]
    acc = 0.0
    k = 0
    for share in shares[:-1]:
        acc += share / sum(shares) * total
        while k < len(ends) and ends[k] <= acc:
            k += 1
        bounds.append(max(k, bounds[-1]))
    bounds.append(len(weights))
    return list(zip(bounds, bounds[1:]))


Serial = Callable[[Sequence[Any]], list[Encoding]]


class Chooser:
    """Whether the next large batch goes parallel: the mode with the lower recent wall seconds per
    char, the other one tried every `PROBE_EVERY`-th batch. On a machine whose cores are all taken by
    other jobs a second thread or process only adds its overhead (docs/benchmarks.md measured the
    parallel path at 0.73x there); this follows the load both ways."""

    PROBE_EVERY = 10

    def __init__(self) -> None:
        self.cost: dict[bool, float | None] = {True: None, False: None}  # parallel? -> s per char (smoothed)
        self.calls = 0

    def best(self) -> bool:
        par, ser = self.cost[True], self.cost[False]
        return par is None or ser is None or par <= ser

    def pick(self) -> bool:
        self.calls += 1
        return self.best() != (self.calls % self.PROBE_EVERY == 0)

    def record(self, parallel: bool, seconds: float, chars: int) -> None:
        """A batch's wall seconds in one mode. The mode in use is smoothed; a probe of the other one
        replaces its figure: that figure is at least `PROBE_EVERY` batches old, and one bad batch (a
        neighbour's threads busy just then) would otherwise keep the faster mode unused for dozens of
        batches (measured: a T5 batch run in parallel 1 time in 10 at 0.63x of `tokenizers`, instead
        of 0.83x)."""
        if chars <= 0:
            return
        old = self.cost[parallel]
        probe = parallel != self.best()
        self.cost[parallel] = seconds / chars if old is None or probe else 0.7 * old + 0.3 * seconds / chars


def encode_threaded(items: Sequence[Any], serial: Serial, n_threads: int) -> list[Encoding]:
    """`serial` over `n_threads` contiguous chunks at once, this thread doing the first: for the
    compiled cores, whose tiktoken merges and numpy passes release the GIL."""
    ranges = cut([item_chars(x) for x in items], [1.0] * n_threads)
    results: list[list[Encoding] | BaseException] = [[] for _ in ranges]

    def run(k: int) -> None:
        a, b = ranges[k]
        try:
            results[k] = serial(items[a:b])
        except BaseException as e:  # raised again in the calling thread
            results[k] = e

    threads = [threading.Thread(target=run, args=(k,), name="cove-tokenizer") for k in range(1, len(ranges))]
    for t in threads:
        t.start()
    run(0)
    for t in threads:
        t.join()
    out: list[Encoding] = []
    for r in results:
        if isinstance(r, BaseException):
            raise r
        out += r
    return out


# -- results as flat columns -------------------------------------------------------------------
def pack(encodings: list[Encoding]) -> tuple[Any, ...]:
    """The encodings as a few flat arrays (cheap to pickle, and to rebuild: see `unpack`)."""
    if any(e.overflowing for e in encodings):  # rare (truncation with overflow): the objects themselves
        return ("objects", encodings)
    ids = array("q", chain.from_iterable(e.ids for e in encodings))
    types = array("q", chain.from_iterable(e.type_ids for e in encodings))
    offsets = array("q", chain.from_iterable(chain.from_iterable(e.offsets for e in encodings)))
    words = array("q", [-1 if w is None else w for w in chain.from_iterable(e.word_ids for e in encodings)])
    special = array("b", chain.from_iterable(e.special_tokens_mask for e in encodings))
    attention = array("b", chain.from_iterable(e.attention_mask for e in encodings))
    tokens = list(chain.from_iterable(e.tokens for e in encodings))  # pickle stores a repeated str once
    ranges = [e.sequence_ranges for e in encodings]
    lengths = array("q", map(len, encodings))
    return ("columns", lengths, ids, types, tokens, offsets, words, special, attention, ranges)


def unpack(packed: tuple[Any, ...]) -> list[Encoding]:
    if packed[0] == "objects":
        return packed[1]
    _, lengths, ids, types, tokens, offsets, words, special, attention, ranges = packed
    ids, types, special, attention = ids.tolist(), types.tolist(), special.tolist(), attention.tolist()
    flat = offsets.tolist()
    pairs = list(zip(flat[0::2], flat[1::2]))
    import numpy as np

    w = np.frombuffer(words, dtype=np.int64)
    none = w < 0
    if none.any():  # special and padding tokens: None
        as_objects = w.astype(object)
        as_objects[none] = None
        word_ids: list[Any] = as_objects.tolist()
    else:
        word_ids = w.tolist()
    out = []
    a = 0
    for n, r in zip(lengths.tolist(), ranges):
        b = a + n
        out.append(Encoding(ids[a:b], types[a:b], tokens[a:b], pairs[a:b], word_ids[a:b], special[a:b],
                            attention[a:b], [], r))
        a = b
    return out


# -- the pipe protocol: a length, then a pickle --------------------------------------------------
def _send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


def _receive(stream: BinaryIO) -> bytes | None:
    """One message's pickle, unread (the caller unpickles when it is free); None at end of stream."""
    head = _read_exact(stream, _HEADER.size)
    if head is None:
        return None
    return _read_exact(stream, _HEADER.unpack(head)[0])


def serve() -> None:
    """A worker's main loop: build the tokenizer, then encode each request until stdin closes."""
    from cove.tokenizers.tokenizer import Tokenizer, gc_paused

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the protocol
    inp = sys.stdin.buffer
    first = _receive(inp)
    if first is None:
        return
    tokenizer_json, flags = pickle.loads(first)
    tok = Tokenizer.from_str(tokenizer_json)
    tok.use_fast_path, tok.use_compiled_core, tok.added.encode_special_tokens = flags
    tok.compiled_core()  # build it before saying ready
    _send(out, ("ready",))
    while (data := _receive(inp)) is not None:
        items, is_pretokenized, add_special_tokens, truncation, padding = pickle.loads(data)
        tok._truncation, tok._padding = truncation, padding
        try:
            with gc_paused():
                reply: Any = ("ok", pack(tok._encode_batch_serial(items, is_pretokenized, add_special_tokens)))
        except Exception as e:  # the caller encodes this chunk itself, and so raises the same error
            reply = ("error", repr(e))
        _send(out, reply)


class _Worker:
    def __init__(self, init: bytes) -> None:
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        env.update(TOKENIZERS_PARALLELISM="false", COVE_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cove.tokenizers.parallel import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.ready = threading.Event()
        self.replies: queue.Queue[tuple[bytes | None, float]] = queue.Queue()  # (reply, when it came)
        self.dead = False
        self.served = 0  # batches it encoded
        threading.Thread(target=self._read, daemon=True, name="cove-tokenizer-reader").start()
        try:
            self._write(init)
        except OSError:
            self.dead = True

    def _write(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(_HEADER.pack(len(data)))
        stdin.write(data)
        stdin.flush()

    def _read(self) -> None:
        """Reads the worker's replies as they come, so it never blocks on a full pipe."""
        stdout = self.proc.stdout
        assert stdout is not None
        first = _receive(stdout)
        if first is not None:
            self.ready.set()
            while (data := _receive(stdout)) is not None:
                self.replies.put((data, time.perf_counter()))
        self.dead = True
        self.replies.put((None, time.perf_counter()))

    def submit(self, request: bytes) -> bool:
        try:
            self._write(request)
            return True
        except OSError:
            self.dead = True
            return False

    def result(self) -> tuple[list[Encoding] | None, float, float]:
        """The reply to the last request (None if the worker failed: the caller encodes the chunk),
        when it came (`time.perf_counter`) and the seconds spent rebuilding it here."""
        data, arrived = self.replies.get()
        t0 = time.perf_counter()
        if data is None:
            return None, arrived, 0.0
        reply = pickle.loads(data)
        if reply[0] != "ok":
            return None, arrived, 0.0
        self.served += 1
        encodings = unpack(reply[1])
        return encodings, arrived, time.perf_counter() - t0

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the worker exits at end of input
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class EncodePool:
    """Worker processes for one state of one tokenizer (see the module docstring)."""

    def __init__(self, tokenizer_json: str, flags: tuple[bool, bool, bool], n_workers: int) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        init = pickle.dumps((tokenizer_json, flags), protocol=pickle.HIGHEST_PROTOCOL)
        self.workers = [_Worker(init) for _ in range(n_workers)]
        self.share: float | None = None  # the caller's fraction of a batch's chars, learnt (see `_learn`)
        self.spread = False  # whether the last batch went over the workers from its start

    def usable(self) -> list[_Worker]:
        return [w for w in self.workers if w.ready.is_set() and not w.dead]

    def encode(self, items: Sequence[Any], serial: Serial, options: tuple[Any, ...]) -> list[Encoding] | None:
        """Encode `items` over the caller and the ready workers; `serial` encodes a chunk here, and
        `options` is (is_pretokenized, add_special_tokens, truncation, padding). None when another
        thread is using the pool (then the caller encodes alone)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            weights = [item_chars(x) for x in items]
            out: list[Encoding] = []
            start = 0
            self.spread = False
            while start < len(items):
                workers = self.usable()
                if not workers:  # still starting (or all failed): encode a slice here, then look again
                    end = len(items)
                    if not all(w.dead for w in self.workers):
                        end = next((start + i + 1 for i, c in enumerate(accumulate(weights[start:]))
                                    if c >= WARMUP_SLICE), end)
                    out += serial(items[start:end])
                    start = end
                    continue
                out += self._spread(items[start:], weights[start:], workers, serial, options)
                self.spread = start == 0  # the whole batch went over the workers: its time means something
                break
            return out
        finally:
            self.lock.release()

    def _spread(self, items: Sequence[Any], weights: list[int], workers: list[_Worker], serial: Serial,
                options: tuple[Any, ...]) -> list[Encoding]:
        k = len(workers)
        share = self.share if self.share is not None else CALLER_WEIGHT / (CALLER_WEIGHT + k)
        ranges = cut(weights, [share] + [(1 - share) / k] * k)
        t0 = time.perf_counter()
        sent = []
        for worker, (a, b) in zip(workers, ranges[1:]):
            request = pickle.dumps((list(items[a:b]), *options), protocol=pickle.HIGHEST_PROTOCOL)
            sent.append(worker.submit(request))
        a, b = ranges[0]
        out = serial(items[a:b])
        t_caller = time.perf_counter() - t0
        t_unpack = 0.0
        t_workers = []
        all_served = True
        for worker, ok, (a, b) in zip(workers, sent, ranges[1:]):
            got, arrived, dt = worker.result() if ok else (None, 0.0, 0.0)
            all_served = all_served and got is not None
            out += got if got is not None else serial(items[a:b])
            t_unpack += dt
            t_workers.append(arrived - t0)
        chars = [sum(weights[a:b]) for a, b in ranges]
        if all_served and chars[0] and all(chars[1:]):
            self._learn(t_caller / chars[0], sum(t / c for t, c in zip(t_workers, chars[1:])) / k,
                        t_unpack / sum(chars[1:]), k)
        return out

    def _learn(self, caller: float, worker: float, unpack: float, k: int) -> None:
        """Move the caller's share toward the one where it ends (its chunk, then rebuilding the
        workers' results) when the workers do, from this batch's seconds per char of each."""
        per_worker = worker / k
        best = max(per_worker - unpack, 0.0) / max(caller + per_worker - unpack, 1e-12)
        best = min(max(best, 0.05), 0.95)
        self.share = best if self.share is None else (self.share + best) / 2

    def close(self) -> None:
        if os.getpid() != self.pid:  # a forked child: the workers are the parent's
            return
        for w in self.workers:
            w.close()

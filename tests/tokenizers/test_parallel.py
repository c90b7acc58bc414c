"""`encode_batch` over several cores gives exactly the serial results, in order, for every family.

Threads run over the compiled BPE cores (gpt2, whisper, llama, llama-legacy); worker processes over
the Python families (t5, minilm, bert). The worker tests wait for the pool to be ready and check that
it served the batch, so the comparison is with results that really crossed a process boundary.
"""

from __future__ import annotations

import os
import pickle

import pytest

from cove.tokenizers import Tokenizer, parallel
from cove.tokenizers.auto import PreTrainedTokenizer

pytestmark = pytest.mark.isolated  # its own process: see the marker in pyproject.toml

THREADED = ["gpt2", "llama", "llama-legacy"]  # whisper has gpt2's core (and a 1-4 s build)
PROCESSES = ["t5", "minilm"]


@pytest.fixture(autouse=True)
def parallelism_allowed(monkeypatch) -> None:
    """transformers' pipelines set TOKENIZERS_PARALLELISM=false for the whole process (the oracle tests
    run them in the same xdist worker), and Cove honours it as `tokenizers` does: clear it here."""
    for name in ("TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS", "COVE_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def lines(corpus_for) -> list[str]:
    """1,200 corpus lines (~190,000 chars: past both thresholds) with BERT, T5 and GPT-2 specials inside."""
    out = corpus_for(("[CLS]", "[SEP]", "</s>", "<unk>", "<|endoftext|>"))[:1200]
    assert sum(map(len, out)) > max(parallel.MIN_CHARS, parallel.THREAD_MIN_CHARS)
    return out


def serial_and_parallel(tok: Tokenizer, monkeypatch, *args, **kwargs):
    """encode_batch with one thread, then with two (waiting for the workers when a pool starts)."""
    monkeypatch.setenv("COVE_NUM_THREADS", "1")
    expected = tok.encode_batch(*args, **kwargs)
    monkeypatch.setenv("COVE_NUM_THREADS", "2")
    got = tok.encode_batch(*args, **kwargs)
    if tok._pool is not None:
        worker = tok._pool.workers[0]
        assert worker.ready.wait(60), "the worker did not start"
        served = worker.served
        got = tok.encode_batch(*args, **kwargs)
        assert worker.served == served + 1, "the worker did not take part"
    return expected, got


@pytest.fixture
def threads_seen(monkeypatch) -> list[int]:
    """The thread counts `encode_threaded` was called with."""
    seen: list[int] = []
    real = parallel.encode_threaded

    def spy(items, serial, n):
        seen.append(n)
        return real(items, serial, n)

    monkeypatch.setattr(parallel, "encode_threaded", spy)
    return seen


@pytest.mark.parametrize("family", THREADED + PROCESSES)
def test_parallel_equals_serial(family, family_path, lines, monkeypatch, threads_seen) -> None:
    tok = Tokenizer.from_file(family_path(family))
    expected, got = serial_and_parallel(tok, monkeypatch, lines)
    assert got == expected  # every field of every encoding, in order
    assert (threads_seen == [2]) if family in THREADED else (tok._pool is not None and not threads_seen)
    tok.close_pool()


@pytest.mark.parametrize("family", ["gpt2", "minilm"])
def test_pairs_truncation_overflow_padding(family, family_path, lines, monkeypatch) -> None:
    tok = Tokenizer.from_file(family_path(family))
    tok.enable_truncation(96, stride=4)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", pad_to_multiple_of=8)
    pairs = list(zip(lines[::2], lines[1::2]))
    expected, got = serial_and_parallel(tok, monkeypatch, pairs)
    assert any(e.overflowing for e in expected)
    assert got == expected
    tok.enable_padding(direction="left", pad_id=0, pad_token="[PAD]")  # to the longest of the batch
    expected, got = serial_and_parallel(tok, monkeypatch, lines, add_special_tokens=False)
    assert len({len(e) for e in got}) == 1 and got == expected
    tok.close_pool()


def test_pretokenized_and_byte_offsets(family_path, lines, monkeypatch) -> None:
    tok = Tokenizer.from_file(family_path("minilm"))
    words = [line.split() for line in lines if line.split()]
    expected, got = serial_and_parallel(tok, monkeypatch, words, is_pretokenized=True)
    assert got == expected
    tok.close_pool()
    tok = Tokenizer.from_file(family_path("gpt2"))
    expected, got = serial_and_parallel(tok, monkeypatch, lines, offset_type="byte")
    assert got == expected


def test_a_changed_tokenizer_gets_a_new_pool(family_path, lines, monkeypatch) -> None:
    tok = Tokenizer.from_file(family_path("t5"))
    serial_and_parallel(tok, monkeypatch, lines)
    first = tok._pool
    tok.add_tokens(["the"])
    expected, got = serial_and_parallel(tok, monkeypatch, lines)
    assert tok._pool is not first and got == expected
    assert any(tok.token_to_id("the") in e.ids for e in got)
    tok.close_pool()


def test_wrapper_batch_call_uses_the_pool(family_path, lines, monkeypatch) -> None:
    tok = PreTrainedTokenizer(Tokenizer.from_file(family_path("minilm")), {"model_max_length": 64, "pad_token": "[PAD]"})
    monkeypatch.setenv("COVE_NUM_THREADS", "1")
    expected = tok(lines, truncation=True, padding=True)
    monkeypatch.setenv("COVE_NUM_THREADS", "2")
    tok(lines, truncation=True, padding=True)
    worker = tok.backend._pool.workers[0]
    assert worker.ready.wait(60)
    got = tok(lines, truncation=True, padding=True)
    assert worker.served >= 1
    assert got["input_ids"] == expected["input_ids"] and got["attention_mask"] == expected["attention_mask"]
    tok.backend.close_pool()


@pytest.mark.parametrize(("family", "value"), [("gpt2", v) for v in ("false", "0", "OFF", "No", "f", "")]
                         + [("minilm", "false")])
def test_tokenizers_parallelism_false_keeps_one_thread(family, value, family_path, lines, monkeypatch,
                                                       threads_seen) -> None:
    monkeypatch.setenv("COVE_NUM_THREADS", "2")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", value)
    tok = Tokenizer.from_file(family_path(family))
    tok.encode_batch(lines)
    assert tok._pool is None and threads_seen == []


def test_small_batches_stay_in_this_thread(family_path, lines, monkeypatch, threads_seen) -> None:
    monkeypatch.setenv("COVE_NUM_THREADS", "2")
    for family in ("gpt2", "minilm"):
        tok = Tokenizer.from_file(family_path(family))
        tok.encode_batch(lines[:100])
        assert tok._pool is None and threads_seen == []


def test_thread_count_settings() -> None:
    assert parallel.num_threads({"COVE_NUM_THREADS": "3", "RAYON_NUM_THREADS": "5"}) == 3
    assert parallel.num_threads({"RAYON_NUM_THREADS": "5"}) == 5
    assert parallel.num_threads({"COVE_NUM_THREADS": "0"}) == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="COVE_NUM_THREADS"):
        parallel.num_threads({"COVE_NUM_THREADS": "many"})
    assert parallel.parallelism_enabled({}) and parallel.parallelism_enabled({"TOKENIZERS_PARALLELISM": "true"})
    assert not parallel.parallelism_enabled({"TOKENIZERS_PARALLELISM": " FALSE "})


def test_cut_keeps_order_and_balances() -> None:
    ranges = parallel.cut([10] * 10, [1.0, 1.0])
    assert ranges == [(0, 5), (5, 10)]
    assert parallel.cut([10] * 10, [0.5, 1.0]) == [(0, 3), (3, 10)]
    for weights in ([100, 1, 1, 1], [1, 1, 1, 100], [5], []):
        ranges = parallel.cut(weights, [1.0, 1.0, 1.0])
        assert len(ranges) == 3 and ranges[0][0] == 0 and ranges[-1][1] == len(weights)
        assert all(a <= b for a, b in ranges) and all(r[1] == s[0] for r, s in zip(ranges, ranges[1:]))


def test_forked_child_encodes_alone(family_path, lines, monkeypatch) -> None:
    tok = Tokenizer.from_file(family_path("minilm"))
    expected, _ = serial_and_parallel(tok, monkeypatch, lines)
    pid = os.fork()
    if pid == 0:  # the child: the pool's pipes are the parent's
        ok = False
        try:
            ok = tok.encode_batch(lines) == expected and tok._pool is None
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tok.encode_batch(lines) == expected and tok._pool is not None  # the parent's pool still works
    clone = pickle.loads(pickle.dumps(tok))  # a copy does not take the processes along
    assert clone._pool is None and clone.encode_batch(lines[:50]) == expected[:50]
    tok.close_pool()


def test_a_killed_worker_costs_only_speed(family_path, lines, monkeypatch) -> None:
    tok = Tokenizer.from_file(family_path("minilm"))
    expected, _ = serial_and_parallel(tok, monkeypatch, lines)
    worker = tok._pool.workers[0]
    worker.proc.kill()
    worker.proc.wait()
    assert tok.encode_batch(lines) == expected  # its chunk encoded here instead
    assert tok.encode_batch(lines) == expected and worker.dead
    tok.close_pool()


def test_no_pool_when_the_tokenizer_has_no_json_form(family_path, lines, monkeypatch) -> None:
    tok = Tokenizer.from_file(family_path("minilm"))
    monkeypatch.setenv("COVE_NUM_THREADS", "1")
    expected = tok.encode_batch(lines)

    def no_json(*args, **kwargs):
        raise TypeError("a model without to_dict")

    monkeypatch.setattr(tok, "to_str", no_json)
    monkeypatch.setenv("COVE_NUM_THREADS", "2")
    assert tok.encode_batch(lines) == expected and tok._pool is None
    assert tok.encode_batch(lines) == expected  # and it does not try again for the same state


def test_chooser_follows_the_faster_mode() -> None:
    chooser = parallel.Chooser()
    assert [chooser.pick() for _ in range(10)] == [True] * 9 + [False]  # parallel, and one serial probe
    chooser.record(True, 2.0, 1000)
    chooser.record(False, 1.0, 1000)  # serial was faster (a loaded machine)
    picks = [chooser.pick() for _ in range(20)]
    assert picks.count(True) == 2 and picks[9] and picks[19]  # serial now, parallel probed
    for _ in range(10):
        chooser.record(True, 0.5, 1000)  # the machine is free again
    assert chooser.best()


def test_one_good_probe_brings_the_faster_mode_back() -> None:
    chooser = parallel.Chooser()
    chooser.record(True, 0.4, 1000)
    chooser.record(False, 0.6, 1000)
    chooser.record(True, 3.0, 1000)  # one parallel batch slowed by a neighbour: serial looks better now
    assert not chooser.best()
    chooser.record(True, 0.4, 1000)  # the next probe of parallel: its figure replaces the stale one
    assert chooser.best()
    chooser.record(True, 0.5, 1000)  # in use again: smoothed (0.7 * 0.4 + 0.3 * 0.5)
    assert chooser.cost[True] == pytest.approx(0.43e-3)

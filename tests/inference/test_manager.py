""":class:`ModelManager` on its own, with real threads: one load per key, LRU order, and a model in use
never unloaded (whoever needs its room waits)."""

from __future__ import annotations

import threading
import time

import pytest

from cove.server.services.inference import ModelManager, ModelTooLarge, StopText


class Weights:
    def __init__(self, name: str, nbytes: int) -> None:
        self.name, self.nbytes = name, nbytes


def use(manager: ModelManager, name: str, nbytes: int, loads: list[str] | None = None):
    def load():
        if loads is not None:
            loads.append(name)
        time.sleep(0.05)  # long enough for concurrent callers to pile up behind the load
        return Weights(name, nbytes)

    return manager.use((name, "sha"), estimate=lambda: nbytes, load=load, measure=lambda w: w.nbytes)


def test_one_load_per_key_under_concurrency():
    manager, loads, seen = ModelManager(100), [], []

    def worker():
        with use(manager, "a", 40, loads) as entry:
            seen.append(entry.pipeline.name)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["a"] and seen == ["a"] * 8 and manager.loads == 1


def test_least_recently_used_goes_first():
    manager = ModelManager(100)
    for name in ("a", "b", "a"):
        with use(manager, name, 40):
            pass
    with use(manager, "c", 40):  # a was used last: b goes
        pass
    assert [m["model"] for m in manager.status()["models"]] == ["a", "c"]
    assert manager.evictions == 1 and manager.peak <= 100


def test_a_model_in_use_is_not_unloaded_and_the_next_waits():
    manager, events = ModelManager(100), []
    held, release = threading.Event(), threading.Event()

    def holder():
        with use(manager, "a", 60):
            events.append("a in use")
            held.set()
            release.wait(10)
            events.append("a released")

    def needs_room():
        with use(manager, "b", 60):
            events.append("b in use")

    t1 = threading.Thread(target=holder)
    t1.start()
    held.wait(10)
    t2 = threading.Thread(target=needs_room)
    t2.start()
    time.sleep(0.2)
    assert events == ["a in use"]  # b waits: a is in use and both do not fit
    assert [m["model"] for m in manager.status()["models"]] == ["a"]
    release.set()
    t1.join(10)
    t2.join(10)
    assert events == ["a in use", "a released", "b in use"]
    assert [m["model"] for m in manager.status()["models"]] == ["b"] and manager.peak <= 100


def test_too_large_and_failed_loads_leave_nothing_behind():
    manager = ModelManager(100)
    with pytest.raises(ModelTooLarge, match="COVE_INFERENCE_MEMORY_MB"):
        with use(manager, "huge", 101):
            pass

    def broken():
        raise OSError("disk gone")

    with pytest.raises(OSError):
        with manager.use(("x", "sha"), estimate=lambda: 10, load=broken, measure=lambda w: 0):
            pass
    # a load whose real size is over the budget (its files looked small) is refused too
    with pytest.raises(ModelTooLarge):
        with manager.use(
            ("y", "sha"), estimate=lambda: 10, load=lambda: Weights("y", 500), measure=lambda w: w.nbytes
        ):
            pass
    status = manager.status()
    assert status["models"] == [] and status["reserved_bytes"] == 0 and status["used_bytes"] == 0


@pytest.mark.parametrize(
    ("pieces", "stops", "want"),
    [
        (["Hel", "lo wor", "ld"], ("o w",), "Hell"),
        (["ab", "c"], ("x",), "abc"),
        (["a<", "/s", ">b"], ("</s>",), "a"),
        (["abc"], (), "abc"),
    ],
)
def test_stop_text_cuts_at_the_first_stop_across_pieces(pieces, stops, want):
    stop = StopText(stops)
    shown = "".join(stop.feed(p) for p in pieces) + stop.flush()
    assert shown == want


def test_settings_from_the_environment(tmp_path):
    from cove.server.settings import Settings

    s = Settings.from_env(
        {"COVE_DATA_DIR": str(tmp_path), "COVE_INFERENCE_MEMORY_MB": "512", "COVE_INFERENCE_THREADS": "0"}
    )
    assert (s.inference_memory_mb, s.inference_threads, s.inference_workers) == (512, 0, 4)
    for bad in (
        {"COVE_INFERENCE_MEMORY_MB": "lots"},
        {"COVE_INFERENCE_MEMORY_MB": "0"},
        {"COVE_INFERENCE_WORKERS": "-1"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Settings.from_env({"COVE_DATA_DIR": str(tmp_path), **bad})


def test_a_causal_lm_is_measured_with_its_greedy_head():
    """The budget counts the int8 head that greedy generation builds beside a causal LM's output
    layer, not only the parameters: measured at load, before the first call builds it (from the
    model's decode state)."""
    import torch

    from cove.models.gpt2 import GPT2Config, GPT2LMHeadModel
    from cove.server.services.inference import model_bytes, module_bytes

    model = GPT2LMHeadModel(GPT2Config(vocab_size=8192, n_embd=64, n_layer=1, n_head=2, n_positions=64))
    params = module_bytes(model)
    assert model_bytes(model) == params + 8192 * 64 + 4 * 8192 * (1 + 3 + 32)
    model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=48, min_new_tokens=48, eos_token_id=0)
    head = model.decode_state.head  # the decode state holds it, and the budget reads it from there
    assert head is not None and head.channels  # what was reserved is what got built
    built = sum(t.numel() * t.element_size() for t in (head.q, head.scales, head.coeffs, head.pool))
    assert model_bytes(model) - params == built == model.decode_state.nbytes(model)

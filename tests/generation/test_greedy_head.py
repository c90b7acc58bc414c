"""The certified greedy argmax (cove.generation.greedy_head): its bound, its answers, and generate with it."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.generation import greedy_head
from cove.generation.greedy_head import CertifiedArgmax
from cove.generation.state import DecodeState
from cove.models import AutoModelForCausalLM
from tests.models.reference import TINY

V, H = 8192, 96


@pytest.fixture(scope="module")
def weight() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(V, H, generator=g) * 0.05
    w[:, 7] *= 20  # an outlier column, as trained output layers have
    w[100] = w[50]  # an exact tie: argmax takes the first
    w[200] = w[150] * (1 + 1e-6)  # a near tie
    return w


def hidden_states(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, H, generator=g) * torch.rand(n, 1, generator=g).mul(8).add(0.1)
    x[::3, 5] *= 60  # outlier activations
    return x


def test_the_bound_holds(weight):
    head = CertifiedArgmax(weight)
    x = hidden_states(300)
    approx, margin = head.bounds(x)
    exact = (x.double() @ weight.double().T).float()
    assert bool(((exact - approx).abs() <= margin).all())
    assert float(margin.max()) > 0  # and it is a real bound: the approximation is not exact
    assert float((exact - approx).abs().max()) > 0


def test_argmax_equals_the_full_product(weight):
    head = CertifiedArgmax(weight)
    x = hidden_states(400, seed=2)
    x[10] = weight[50] * 3  # makes the tied rows 50 and 100 the maximum
    x[11] = weight[150] * 3
    full = (x @ weight.T).argmax(1)
    assert torch.equal(head(x), full)  # a batch this big takes the full product (too many candidates)
    assert int(full[10]) == 50
    head.full_products = 0
    eights = torch.cat([head(x[i : i + 8]) for i in range(0, 400, 8)])
    assert torch.equal(eights, full)
    ones = torch.stack([head(x[i : i + 1])[0] for i in range(0, 400, 7)])
    assert torch.equal(ones, full[::7])
    assert head.full_products == 0  # every answer came from the candidates


def test_outlier_channels_are_taken_out_of_the_int8_product(weight):
    """A channel far above the others (as in trained models' final hidden states) would make the int8
    scale of x coarse and leave most of the vocabulary as candidates; split out, it costs nothing, and
    the split follows the outliers from one step to the next."""
    head = CertifiedArgmax(weight)
    x = hidden_states(64, seed=8)
    x[:, 11] = x.abs().amax(1) * 15
    x[1::2, 11] = 0
    x[1::2, 40] = x[::2, 11]  # every other step the outlier is channel 40
    full = (x @ weight.T).argmax(1)
    ones = torch.stack([head(x[i : i + 1])[0] for i in range(64)])
    assert torch.equal(ones, full)
    assert {11, 40} <= set(head.channels) and head.full_products == 0
    plain = CertifiedArgmax(weight)
    plain.k = 0  # the same head without the split
    for i in (0, 1):
        _, margin = head.bounds(x[i : i + 1])
        _, plain_margin = plain.bounds(x[i : i + 1])
        assert float(plain_margin.mean()) > 3 * float(margin.mean())


def test_a_full_pool_keeps_the_answers_exact(weight):
    head = CertifiedArgmax(weight)
    g = torch.Generator().manual_seed(9)
    x = hidden_states(120, seed=9)
    for i in range(120):  # an outlier in a random channel at every step: the pool fills up, then stays
        x[i, int(torch.randint(0, H, (1,), generator=g))] = 300.0
    got = torch.stack([head(x[i : i + 1])[0] for i in range(120)])
    assert torch.equal(got, (x @ weight.T).argmax(1))
    assert len(head.channels) == len(head.pool) == greedy_head.POOL
    rows = torch.tensor(list(head.channels.values()))
    assert torch.equal(head.pool[rows], weight[:, list(head.channels)].T)  # each row is its column


def test_banned_ids_are_never_chosen(weight):
    head = CertifiedArgmax(weight)
    x = hidden_states(50, seed=3)
    full = (x @ weight.T).argmax(1)
    banned = sorted(set(full.tolist()))[:5]
    logits = x @ weight.T
    logits[:, banned] = float("-inf")
    assert torch.equal(head(x, banned), logits.argmax(1))


def test_bias_is_counted():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(V, H, generator=g) * 0.05
    b = torch.randn(V, generator=g) * 3
    x = hidden_states(60, seed=4)
    assert torch.equal(CertifiedArgmax(w, b)(x), torch.nn.functional.linear(x, w, b).argmax(1))


def test_falls_back_when_the_bound_cannot_decide():
    w = torch.full((V, H), 0.01)  # every row alike: all are candidates
    w[4000] += 1e-7
    head = CertifiedArgmax(w)
    x = torch.ones(2, H)
    assert torch.equal(head(x), (x @ w.T).argmax(1))
    assert head.full_products == 2
    x[0, 0] = float("nan")
    assert torch.equal(head(x[1:]), (x[1:] @ w.T).argmax(1))


def test_head_is_rebuilt_when_the_weight_changes(weight):
    lin = torch.nn.Linear(H, V, bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    state = DecodeState(cache=None)
    first = state.greedy_head(lin)
    assert first is state.greedy_head(lin)  # kept in the decode state
    x = hidden_states(20, seed=5)
    with torch.no_grad():
        lin.weight.mul_(-1)  # an optimizer step, in place
    again = state.greedy_head(lin)
    assert again is not first
    assert torch.equal(again(x), (x @ lin.weight.T).argmax(1))
    assert state.greedy_head(torch.nn.Linear(H, 100)) is None  # a small vocabulary: not worth it
    assert state.greedy_head(torch.nn.Linear(H, V).half()) is None


def test_bfloat16_logits_ties_go_to_the_first_row(weight):
    """bfloat16 logits tie often (8 significant bits): the head must pick the full product's first maximum."""
    w = weight.bfloat16()
    head = CertifiedArgmax(w)
    x = hidden_states(200, seed=6).bfloat16()
    full = torch.nn.functional.linear(x, w).float()
    ties = int((full == full.amax(1, keepdim=True)).sum(1).gt(1).sum())
    assert ties > 0  # the case is really exercised
    got = torch.cat([head(x[i : i + 4]) for i in range(0, 200, 4)])
    assert torch.equal(got, full.argmax(1))
    assert head.full_products == 0


@pytest.mark.parametrize(
    "model_type,dtype", [("gpt2", "float32"), ("llama", "float32"), ("llama", "bfloat16")]
)
def test_generate_uses_it_and_matches_transformers(model_type, dtype, tmp_path):
    config = TINY[model_type]()
    config.vocab_size = V
    torch.manual_seed(0)
    ref = T.AutoModelForCausalLM.from_config(config).eval()
    ref.save_pretrained(tmp_path)
    ref = ref.to(getattr(torch, dtype))
    model = AutoModelForCausalLM.from_pretrained(tmp_path, torch_dtype=getattr(torch, dtype))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, V, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    mask[2, :2] = 0
    model.generate(ids[:1], max_new_tokens=greedy_head.BUILD_AFTER - 1)
    assert model.decode_state.head is None  # a short call does not pay the build
    for options in (
        dict(max_new_tokens=greedy_head.BUILD_AFTER),  # builds it; the shorter calls after use it
        dict(max_new_tokens=20),
        dict(max_new_tokens=12, min_new_tokens=12, eos_token_id=[5, 9]),
        dict(max_new_tokens=10, cache_implementation="static"),
    ):
        ref_options = {k: v for k, v in options.items() if k != "cache_implementation"}
        expected = ref.generate(ids, attention_mask=mask, do_sample=False, pad_token_id=0, **ref_options)
        assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected), options
    head = model.decode_state.head
    assert head is not None and head.full_products == 0
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the weights were only read


def test_inference_tensors_are_watched_too(weight):
    """Weights made under inference_mode have no version counter: a change is still seen."""
    with torch.inference_mode():
        lin = torch.nn.Linear(H, V, bias=False)
        lin.weight.copy_(weight)
    x = hidden_states(20, seed=7)
    with torch.inference_mode():
        state = DecodeState(cache=None)
        first = state.greedy_head(lin)
        assert state.greedy_head(lin) is first
        assert torch.equal(first(x), (x @ lin.weight.T).argmax(1))
        lin.weight.mul_(-1)
        again = state.greedy_head(lin)
        assert again is not first
        assert torch.equal(again(x), (x @ lin.weight.T).argmax(1))


def test_head_bytes_are_what_the_built_head_holds(weight):
    """A memory budget reserves ``head_bytes`` before the head exists: it must be what building takes."""
    lin = torch.nn.Linear(H, V, bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    expected = greedy_head.head_bytes(lin)
    head = DecodeState(cache=None).greedy_head(lin)
    head(hidden_states(1))  # the outlier columns are taken at the first call
    held = [head.q, head.scales, head.coeffs, head.pool]
    assert expected == sum(t.numel() * t.element_size() for t in held)
    assert greedy_head.head_bytes(torch.nn.Linear(H, 100)) == 0
    assert greedy_head.head_bytes(None) == 0

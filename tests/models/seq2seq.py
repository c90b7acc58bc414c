"""Parity checks shared by the encoder-decoder tests (BART, Marian): a tiny random transformers model
saved and loaded in Cove (and the reverse), compared on a padded batch: logits, loss and gradients,
hidden states, attentions and cross-attentions, the cache, and a greedy loop over the generation
contract (``encode`` / ``make_cache`` / ``decode``) against transformers' ``generate``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cove.models import auto

ATOL = 1e-4


def inputs(pad: int, *, vocab: int = 60, target_vocab: int | None = None) -> dict[str, torch.Tensor]:
    """Two sources of 9 tokens (the second padded to 6) and decoder inputs of 7 (the second padded to 5)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, vocab, (2, 9), generator=g)
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:] = 0
    ids[1, 6:] = pad
    dec = torch.randint(3, target_vocab or vocab, (2, 7), generator=g)
    dmask = torch.ones(2, 7, dtype=torch.long)
    dmask[1, 5:] = 0
    dec[1, 5:] = pad
    return dict(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dmask)


def save_reference(hf_class, config, folder: Path, seed: int = 0):
    torch.manual_seed(seed)
    ref = hf_class(config).eval()
    with torch.no_grad():  # a random final_logits_bias, so a model that ignores it fails
        if hasattr(ref, "final_logits_bias"):
            ref.final_logits_bias.normal_(0, 0.5)
    ref.save_pretrained(folder)
    return ref


def close(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None, atol: float = ATOL) -> None:
    """Equal at real (unpadded) rows of dimension 1 when ``mask`` (B, T) is given."""
    assert a.shape == b.shape, (a.shape, b.shape)
    if mask is not None:
        a, b = a[mask.bool()], b[mask.bool()]
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


def check_logits_both_ways(tmp_path: Path, hf_class, config, pad: int, target_vocab: int | None = None):
    ref = save_reference(hf_class, config, tmp_path / "hf")
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf")
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    batch = inputs(pad, target_vocab=target_vocab)
    with torch.no_grad():
        expected = ref(**batch).logits
        got = model(**batch).logits
    close(got, expected, batch["decoder_attention_mask"])
    model.save_pretrained(tmp_path / "cove")  # Cove -> transformers
    back = hf_class.from_pretrained(tmp_path / "cove").eval()
    with torch.no_grad():
        close(back(**batch).logits, got, batch["decoder_attention_mask"])


def check_loss_and_gradients(tmp_path: Path, hf_class, config, pad: int, target_vocab: int | None = None):
    ref = save_reference(hf_class, config, tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    batch = inputs(pad, target_vocab=target_vocab)
    labels = batch.pop("decoder_input_ids").masked_fill(batch.pop("decoder_attention_mask") == 0, -100)
    theirs = ref(**batch, labels=labels)  # both in eval mode: no dropout
    ours = model(**batch, labels=labels)
    torch.testing.assert_close(ours.loss, theirs.loss, atol=ATOL, rtol=0)
    theirs.loss.backward()
    ours.loss.backward()
    grads = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
    mine = dict(model.named_parameters())
    assert len(grads) > 10
    for name, grad in grads.items():
        torch.testing.assert_close(mine[name].grad, grad, atol=ATOL, rtol=0, msg=name)


def check_recorded_outputs(tmp_path: Path, hf_class, config, pad: int, target_vocab: int | None = None):
    """hidden states, attentions and cross-attentions of encoder and decoder; return_dict=False."""
    save_reference(hf_class, config, tmp_path)
    ref = hf_class.from_pretrained(tmp_path, attn_implementation="eager").eval()
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    batch = inputs(pad, target_vocab=target_vocab)
    flags = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        theirs, ours = ref(**batch, **flags), model(**batch, **flags)
        plain = model(**batch, **flags, return_dict=False)
    src, tgt = batch["attention_mask"], batch["decoder_attention_mask"]
    layers = config.encoder_layers
    assert len(ours.encoder_hidden_states) == len(ours.decoder_hidden_states) == layers + 1
    for a, b in zip(ours.encoder_hidden_states, theirs.encoder_hidden_states, strict=True):
        close(a, b, src)
    for a, b in zip(ours.decoder_hidden_states, theirs.decoder_hidden_states, strict=True):
        close(a, b, tgt)
    close(ours.encoder_last_hidden_state, theirs.encoder_last_hidden_state, src)
    for name, mask in (("encoder_attentions", src), ("decoder_attentions", tgt), ("cross_attentions", tgt)):
        mine, ref_probs = getattr(ours, name), getattr(theirs, name)
        assert len(mine) == len(ref_probs) == layers
        for a, b in zip(mine, ref_probs, strict=True):
            assert a.shape == b.shape, (name, a.shape, b.shape)
            for row in range(2):
                real = mask[row].bool()
                close(a[row][:, real], b[row][:, real])
    assert type(plain) is tuple and len(plain) == len(ours.to_tuple())
    torch.testing.assert_close(plain[0], ours.logits, atol=0, rtol=0)
    assert list(ours.keys())[:2] == ["logits", "cache"]


def check_cache_continuation(model, pad: int, target_vocab: int | None = None):
    """A forward over 4 decoder tokens with use_cache, then the other 3 from its cache, equals the
    full forward; so does one token at a time."""
    batch = inputs(pad, target_vocab=target_vocab)
    dec, dmask = batch["decoder_input_ids"], batch["decoder_attention_mask"]
    src = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with torch.no_grad():
        full = model(**batch).logits
        first = model(**src, decoder_input_ids=dec[:, :4], decoder_attention_mask=dmask[:, :4], use_cache=True)
        rest = model(
            encoder_outputs=(first.encoder_last_hidden_state,),
            attention_mask=batch["attention_mask"],
            decoder_input_ids=dec[:, 4:],
            decoder_attention_mask=dmask,
            past_key_values=first.past_key_values,
        )
        assert rest.cache.get_seq_length() == 7
        steps = [first.logits, rest.logits]
        close(torch.cat(steps, dim=1), full, dmask, atol=1e-5)
        out = model(**src, decoder_input_ids=dec[:, :1], decoder_attention_mask=dmask[:, :1])
        steps, cache = [out.logits], out.cache
        for t in range(1, 7):
            out = model(
                **src, decoder_input_ids=dec[:, t : t + 1], decoder_attention_mask=dmask[:, : t + 1], cache=cache
            )
            steps.append(out.logits)
        close(torch.cat(steps, dim=1), full, dmask, atol=1e-5)
        assert model(**batch, use_cache=False).cache is None


def greedy(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """The encoder-decoder generation contract, driven as cove.generation drives it: greedy, no
    stopping (every row runs ``max_new_tokens`` steps)."""
    config = model.config
    with torch.no_grad():
        memory = model.encode(input_ids, attention_mask)
        cache = model.make_cache(input_ids.shape[0], max_new_tokens + 1)
        out = torch.full((input_ids.shape[0], 1), config.decoder_start_token_id)
        for _ in range(max_new_tokens):
            start = cache.get_seq_length()
            logits = model.decode(out[:, start:], memory, attention_mask, cache)
            out = torch.cat((out, logits[:, -1].argmax(-1, keepdim=True)), dim=1)
    return out


def check_greedy_matches_generate(tmp_path: Path, hf_class, config, pad: int):
    ref = save_reference(hf_class, config, tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert model.config.is_encoder_decoder
    batch = inputs(pad)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        expected = ref.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            num_beams=1,
            max_new_tokens=12,
            min_new_tokens=12,
            eos_token_id=None,
            forced_eos_token_id=None,
            forced_bos_token_id=None,
            bad_words_ids=None,
        )
    got = greedy(model, ids, mask, 12)
    assert got.tolist() == expected.tolist()


def check_bad_inputs(model, pad: int):
    batch = inputs(pad)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with pytest.raises(ValueError, match="decoder_input_ids or labels"):
        model(attention_mask=mask, encoder_outputs=(model.encode(ids, mask),))
    if not model.shifts_input_ids:  # Marian, as transformers: decoder inputs are required
        with pytest.raises(ValueError, match="decoder_input_ids or labels"):
            model(input_ids=ids, attention_mask=mask)
    with pytest.raises(ValueError, match="labels has shape"):
        model(**batch, labels=torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="labels must hold int64"):
        model(input_ids=ids, labels=torch.zeros(2, 7))
    with pytest.raises(ValueError, match="labels must be"):
        model(input_ids=ids, labels=torch.zeros(7, dtype=torch.long))
    with pytest.raises(ValueError, match="input_ids"):
        model(decoder_input_ids=batch["decoder_input_ids"])
    with pytest.raises(TypeError, match="encoder_outputs"):
        model(encoder_outputs="x", decoder_input_ids=batch["decoder_input_ids"])

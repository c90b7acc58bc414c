"""`AutoTokenizer` against transformers: call signature, legacy vocab files and chat templates."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cove.tokenizers import AutoTokenizer

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello, who are you? 😀"},
    {"role": "assistant", "content": "A model.  "},
    {"role": "user", "content": "Écris un poème <s> sur le café."},
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, family_path):
    root = tmp_path_factory.mktemp("auto")
    minilm = family_path("minilm").parent
    full = root / "minilm"
    shutil.copytree(minilm, full)
    vocab_only = root / "minilm_vocab"
    vocab_only.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm / name, vocab_only / name)
    llama = root / "llama"
    llama.mkdir()
    shutil.copy(family_path("llama"), llama / "tokenizer.json")
    (llama / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": "</s>", "padding_side": "left", "model_max_length": 48, "chat_template": LLAMA2}))
    gpt2 = root / "gpt2"
    gpt2.mkdir()
    shutil.copy(family_path("gpt2"), gpt2 / "tokenizer.json")
    (gpt2 / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>"}))
    (gpt2 / "chat_template.jinja").write_text(CHATML)
    return {"minilm": full, "minilm_vocab": vocab_only, "llama": llama, "gpt2": gpt2}


CALLS = [
    dict(),
    dict(padding=True),
    dict(padding=True, truncation=True, max_length=12),
    dict(padding="max_length", max_length=40, return_offsets_mapping=True),
    dict(truncation=True, max_length=7, return_tensors="np", padding=True),
    dict(max_length=9, return_special_tokens_mask=True),
    dict(add_special_tokens=False, return_length=True),
    dict(truncation="only_first", max_length=30, padding=True, pad_to_multiple_of=8),
]


def _check(ref_fn, cove_fn) -> None:
    """Same outputs, or both refuse (e.g. padding without a pad token)."""
    try:
        expected = ref_fn()
    except ValueError:
        with pytest.raises(ValueError):
            cove_fn()
        return
    _same(expected, cove_fn())


def _same(a, b) -> None:
    assert set(a.keys()) == set(b.keys())
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype and x.shape == y.shape and (x == y).all(), k
        else:
            assert x == y, k


@pytest.mark.parametrize("name", ["minilm", "minilm_vocab", "llama", "gpt2"])
@pytest.mark.parametrize("call", range(len(CALLS)))
def test_call_matches_transformers(name, call, folders, corpus_for) -> None:
    import transformers

    reference_folder = folders["minilm" if name == "minilm_vocab" else name]
    ref = transformers.AutoTokenizer.from_pretrained(str(reference_folder))
    tok = AutoTokenizer.from_pretrained(folders[name])
    kwargs = CALLS[call]
    texts = [x for x in corpus_for(())[:60] if x.strip()][:12]
    if kwargs.get("return_tensors") and "padding" not in kwargs:
        return
    _check(lambda: ref(texts, **kwargs), lambda: tok(texts, **kwargs))
    _check(lambda: ref(texts[0], **kwargs), lambda: tok(texts[0], **kwargs))
    _check(lambda: ref(texts[:6], texts[6:], **kwargs), lambda: tok(texts[:6], text_pair=texts[6:], **kwargs))
    assert ref.decode(ref(texts[1])["input_ids"]) == tok.decode(tok(texts[1])["input_ids"])
    assert ref.decode(ref(texts[1])["input_ids"], skip_special_tokens=True) == tok.decode(
        tok(texts[1])["input_ids"], skip_special_tokens=True)


def test_special_tokens_and_vocab(folders) -> None:
    import transformers

    for name in ("minilm", "llama", "gpt2"):
        ref = transformers.AutoTokenizer.from_pretrained(str(folders[name]))
        tok = AutoTokenizer.from_pretrained(folders[name])
        for attr in ("bos_token", "eos_token", "unk_token", "pad_token", "cls_token", "sep_token", "mask_token"):
            assert getattr(ref, attr) == getattr(tok, attr), attr
            assert getattr(ref, attr + "_id") == getattr(tok, attr + "_id"), attr
        assert len(ref) == len(tok)
        assert ref.model_max_length == tok.model_max_length
        assert ref.tokenize("Hello world, café!") == tok.tokenize("Hello world, café!")
        assert ref.convert_tokens_to_ids(["hello", "[CLS]", "<s>"]) == tok.convert_tokens_to_ids(["hello", "[CLS]", "<s>"])


@pytest.mark.parametrize("name", ["llama", "gpt2"])
@pytest.mark.parametrize("generation_prompt", [False, True])
def test_chat_template_matches_transformers(name, generation_prompt, folders) -> None:
    import transformers

    ref = transformers.AutoTokenizer.from_pretrained(str(folders[name]))
    tok = AutoTokenizer.from_pretrained(folders[name])
    conversation = CONVERSATION if name == "llama" else CONVERSATION[1:]
    text = ref.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt)
    assert tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt) == text
    ids = ref.apply_chat_template(conversation, add_generation_prompt=generation_prompt)
    assert dict(tok.apply_chat_template(conversation, add_generation_prompt=generation_prompt)) == dict(ids)
    assert tok.apply_chat_template(conversation, return_dict=False) == ref.apply_chat_template(
        conversation, return_dict=False)
    batch = [conversation, conversation[:2]]
    assert tok.apply_chat_template(batch, tokenize=False) == ref.apply_chat_template(batch, tokenize=False)
    _check(lambda: ref.apply_chat_template(batch, padding=True, return_tensors="np"),
           lambda: tok.apply_chat_template(batch, padding=True, return_tensors="np"))
    _check(lambda: ref.apply_chat_template(conversation, return_tensors="np"),  # one chat: shape (1, T)
           lambda: tok.apply_chat_template(conversation, return_tensors="np"))


def test_chat_template_sandbox_and_errors(folders) -> None:
    import jinja2

    tok = AutoTokenizer.from_pretrained(folders["llama"])
    with pytest.raises(jinja2.exceptions.TemplateError, match="alternate"):
        tok.apply_chat_template([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    evil = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(jinja2.exceptions.SecurityError):
        tok.apply_chat_template([{"role": "user", "content": "a"}], chat_template=evil, tokenize=False)
    with pytest.raises(ValueError):
        tok.apply_chat_template([], tokenize=False)


def test_legacy_gpt2_files(tmp_path, family_path) -> None:
    """vocab.json + merges.txt (no tokenizer.json) as transformers' GPT2Tokenizer reads them."""
    import transformers

    d = json.loads(family_path("gpt2").read_text(encoding="utf-8"))
    (tmp_path / "vocab.json").write_text(json.dumps(d["model"]["vocab"], ensure_ascii=False), encoding="utf-8")
    merges = ["#version: 0.2"] + [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    (tmp_path / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
              "unk_token": "<|endoftext|>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ref = transformers.GPT2Tokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    tok = AutoTokenizer.from_pretrained(tmp_path)
    texts = ["Hello world", "  spaced   out  ", "café ☕ naïve", "x<|endoftext|>y", "def f(x):\n\treturn 1"]
    for t in texts:
        assert tok(t)["input_ids"] == ref(t)["input_ids"], t
        assert tok.decode(tok(t)["input_ids"]) == ref.decode(ref(t)["input_ids"])


def test_return_tensors_pt_is_lazy(folders) -> None:
    torch = pytest.importorskip("torch")
    tok = AutoTokenizer.from_pretrained(folders["minilm"])
    out = tok(["a b", "c"], padding=True, return_tensors="pt")
    assert isinstance(out["input_ids"], torch.Tensor) and out["input_ids"].dtype == torch.long


def test_repo_id_goes_through_cove_hub(folders, monkeypatch) -> None:
    """A repo id (not a folder) is fetched with cove.hub.snapshot_download, tokenizer files only."""
    import cove.hub

    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return folders["minilm"]

    monkeypatch.setattr(cove.hub, "snapshot_download", fake_snapshot_download)
    tok = AutoTokenizer.from_pretrained("org/minilm", revision="main", token="t", endpoint="http://127.0.0.1:1")
    assert tok("hello")["input_ids"][0] == tok.cls_token_id
    (repo_id, kwargs), = calls
    assert repo_id == "org/minilm" and kwargs["revision"] == "main" and kwargs["endpoint"] == "http://127.0.0.1:1"
    assert "tokenizer.json" in kwargs["allow_patterns"] and "*.safetensors" not in kwargs["allow_patterns"]


@pytest.mark.parametrize("name", ["minilm", "gpt2"])
def test_text_target_and_clean_up_match_transformers(name, folders) -> None:
    """``tokenizer(text, text_target=...)`` puts the targets' ids in ``labels``; ``decode`` takes
    ``clean_up_tokenization_spaces``."""
    import transformers

    ref = transformers.AutoTokenizer.from_pretrained(str(folders[name]))
    tok = AutoTokenizer.from_pretrained(folders[name])
    sources, targets = ["A long text , to sum up .", "Another one !"], ["Short .", "Shorter , yes"]
    for kwargs in ({}, {"padding": True}, {"max_length": 4, "truncation": True}):
        for args, options in (((sources,), {"text_target": targets}), ((), {"text_target": targets[0]})):
            options = {**options, **kwargs}
            _check(lambda a=args, o=options: ref(*a, **o), lambda a=args, o=options: tok(*a, **o))
    with pytest.raises(ValueError, match="text_target"):
        tok()
    ids = ref("It 's a test , isn 't it ?")["input_ids"]
    for clean in (True, False):
        assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean) == ref.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean)

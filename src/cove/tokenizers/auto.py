"""`AutoTokenizer`: the transformers-style front end over a `Tokenizer`.

`AutoTokenizer.from_pretrained(repo_or_folder)` reads tokenizer.json (or, without it, vocab.txt for
BERT WordPiece or vocab.json + merges.txt for GPT-2 byte-level BPE, built as transformers'
converters build them), tokenizer_config.json, special_tokens_map.json and chat_template.jinja.
The returned `PreTrainedTokenizer` is called like transformers' fast tokenizers
(`tok(texts, text_pair=..., padding=, truncation=, max_length=, return_tensors=,
return_offsets_mapping=)`) and applies chat templates (`apply_chat_template`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cove.tokenizers import chat_template as chat
from cove.tokenizers.encoding import Encoding
from cove.tokenizers.tokenizer import Tokenizer

VERY_LARGE_INTEGER = int(1e30)  # transformers' "no limit" model_max_length
SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
# transformers 5 tokenizer classes whose model inputs include token_type_ids (the default has none)
_WITH_TOKEN_TYPES = ("BertTokenizer", "BertJapanese", "ConvBert", "Electra", "MobileBert", "SqueezeBert", "LayoutLM",
                     "Canine", "CodeGen", "Deberta", "FNet", "MarkupLM", "Tapas")
Text = str | list[str]
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "vocab.txt", "vocab.json", "merges.txt", "source.spm", "target.spm", "target_vocab.json",
                   "spiece.model"]


class BatchEncoding(dict):  # type: ignore[type-arg]
    """The dict transformers returns (input_ids, attention_mask, ...), keys also readable as attributes."""

    def __init__(self, data: dict[str, Any], encodings: list[Encoding]) -> None:
        super().__init__(data)
        self.encodings = encodings

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def _token_content(value: Any) -> str | None:
    if value is None:
        return None
    return value["content"] if isinstance(value, dict) else str(value)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


class PreTrainedTokenizer:
    """A `Tokenizer` plus the settings of tokenizer_config.json, called as transformers' tokenizers are."""

    def __init__(self, tokenizer: Tokenizer, config: dict[str, Any] | None = None,
                 special_tokens_map: dict[str, Any] | None = None, chat_template: str | None = None) -> None:
        self.backend = tokenizer
        self.config = dict(config or {})
        specials = {k: _token_content(self.config.get(k)) for k in SPECIAL_TOKENS}
        for k, v in (special_tokens_map or {}).items():
            if k in SPECIAL_TOKENS and v is not None:
                specials[k] = _token_content(v)
        self.special_tokens = {k: v for k, v in specials.items() if v is not None}
        self.model_max_length = int(self.config.get("model_max_length") or VERY_LARGE_INTEGER)
        self.padding_side = self.config.get("padding_side", "right")
        self.truncation_side = self.config.get("truncation_side", "right")
        template = chat_template if chat_template is not None else self.config.get("chat_template")
        if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
            named = {t["name"]: t["template"] for t in template}
            template = named.get("default", next(iter(named.values()), None))
        self.chat_template: str | None = template
        names = self.config.get("model_input_names")
        if names is None:
            cls = str(self.config.get("tokenizer_class") or "")
            with_types = cls.startswith(_WITH_TOKEN_TYPES) and not cls.startswith("LayoutLMv3")
            names = ["input_ids", "token_type_ids", "attention_mask"] if with_types else ["input_ids", "attention_mask"]
        self.model_input_names: list[str] = list(names)

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | Path) -> PreTrainedTokenizer:
        folder = Path(folder)
        config = _read_json(folder / "tokenizer_config.json")
        if (folder / "tokenizer.json").is_file():
            tokenizer = Tokenizer.from_file(folder / "tokenizer.json")
        elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            from cove.tokenizers.legacy import gpt2_from_files

            tokenizer = gpt2_from_files(folder / "vocab.json", folder / "merges.txt", config)
        elif (folder / "spiece.model").is_file():
            from cove.tokenizers.legacy import T5_SPECIALS, t5_from_spiece

            kind = str(config.get("tokenizer_class") or "T5Tokenizer")
            if not kind.startswith(("T5", "MT5")):
                raise NotImplementedError(f"{folder}: spiece.model of a {kind} (only T5's is converted)")
            config = {**T5_SPECIALS, **config}
            tokenizer = t5_from_spiece(folder / "spiece.model", config)
        elif (folder / "vocab.txt").is_file():
            from cove.tokenizers.legacy import bert_from_vocab

            tokenizer = bert_from_vocab(folder / "vocab.txt", config)
        else:
            raise FileNotFoundError(
                f"no tokenizer.json, vocab.json + merges.txt, spiece.model or vocab.txt in {folder}"
            )
        template_file = folder / "chat_template.jinja"
        template = template_file.read_text(encoding="utf-8") if template_file.is_file() else None
        return cls(tokenizer, config, _read_json(folder / "special_tokens_map.json"), template)

    def save_pretrained(self, folder: str | Path) -> list[Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.backend.save(folder / "tokenizer.json")
        config = {**self.config, **self.special_tokens, "model_max_length": self.model_max_length,
                  "padding_side": self.padding_side, "truncation_side": self.truncation_side}
        if self.chat_template is not None:
            config["chat_template"] = self.chat_template
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        return [folder / "tokenizer.json", folder / "tokenizer_config.json"]

    def push_to_hub(self, repo_id: str, *, commit_message: str = "Upload tokenizer", private: bool | None = None,
                    token: str | None = None, endpoint: str | None = None, revision: str | None = None) -> Any:
        """Upload the tokenizer (``save_pretrained``'s files) as one commit to the model repo ``repo_id``,
        created if absent, as transformers' ``push_to_hub``. A ``repo_id`` without a namespace goes under
        the token's account. Returns the ``CommitInfo``.

        Args:
            repo_id: ``namespace/name`` (or ``name``).
            commit_message: the commit's title.
            private: the visibility of a repo created here (an existing repo keeps its own).
            token / endpoint: the Hub and credentials (default ``COVE_TOKEN`` / ``COVE_ENDPOINT``).
            revision: the branch to commit to (default ``main``).
        """
        import tempfile

        from cove.hub import HubApi  # the client is only needed here

        if not isinstance(repo_id, str) or not repo_id.strip("/"):
            raise ValueError(f"push_to_hub: repo_id must be 'namespace/name' or 'name', got {repo_id!r}")
        with HubApi(endpoint=endpoint, token=token) as api, tempfile.TemporaryDirectory() as tmp:
            if "/" not in repo_id:
                repo_id = f"{api.whoami()['name']}/{repo_id}"
            api.create_repo(repo_id, private=private, exist_ok=True)
            self.save_pretrained(tmp)
            return api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message,
                                     revision=revision, progress=False)

    # -- special tokens ------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in SPECIAL_TOKENS:
            return self.__dict__["special_tokens"].get(name)
        if name.endswith("_id") and name[:-3] in SPECIAL_TOKENS:
            token = self.__dict__["special_tokens"].get(name[:-3])
            return None if token is None else self.backend.token_to_id(token)
        raise AttributeError(name)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return dict(self.special_tokens)

    @property
    def all_special_tokens(self) -> list[str]:
        out = list(dict.fromkeys(self.special_tokens.values()))
        out += [t.content for t in self.backend.get_added_tokens_decoder().values() if t.special and t.content not in out]
        return out

    @property
    def all_special_ids(self) -> list[int]:
        return [i for t in self.all_special_tokens if (i := self.backend.token_to_id(t)) is not None]

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab()

    # -- text <-> ids --------------------------------------------------------------------------
    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        pairs = None if pair is None else [pair]
        return self._encode([text], pairs, add_special_tokens, False, False, None, 0, None, False)[0].tokens

    def _token_id(self, token: str) -> int | None:
        tid = self.backend.token_to_id(token)
        return self.unk_token_id if tid is None else tid  # transformers maps unknown tokens to unk

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | None | list[int | None]:
        if isinstance(tokens, str):
            return self._token_id(tokens)
        return [self._token_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> Any:
        if isinstance(ids, int):
            return self.backend.id_to_token(ids)
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self.backend.id_to_token(int(i)) for i in ids if int(i) not in special]

    def encode(self, text: str, text_pair: str | None = None, *, add_special_tokens: bool = True,
               truncation: bool | str = False, max_length: int | None = None) -> list[int]:
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                    max_length=max_length)["input_ids"]

    def decode(self, ids: Any, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool | None = None) -> str:
        """Text of ``ids``; ``clean_up_tokenization_spaces`` (default: the tokenizer config's) also joins
        the spaces English punctuation and contractions were split with (`` .`` -> ``.``, `` 's`` ->
        ``'s``), except on a BPE model, as transformers 5."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        text = self.backend.decode(ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = bool(self.config.get("clean_up_tokenization_spaces", False))
        # as transformers 5: never on a BPE model, where it would strip real spaces before punctuation
        bpe = type(self.backend.model).__name__ == "BPE" and not self.config.get(
            "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False)
        return clean_up_tokenization(text) if clean_up_tokenization_spaces and not bpe else text

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None) -> list[str]:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]

    def __call__(self, text: Text | None = None, text_pair: Text | None = None, *, text_target: Text | None = None,
                 text_pair_target: Text | None = None, **options: Any) -> BatchEncoding:
        """Encode ``text`` (and ``text_pair``), as transformers does; ``text_target`` (and
        ``text_pair_target``) encode a seq2seq model's targets: alone they give the targets' encoding,
        with ``text`` they become its ``labels`` (the targets' input ids)."""
        if text is None and text_target is None:
            raise ValueError("You need to specify either `text` or `text_target`.")
        encoding = None if text is None else self._call_one(text, text_pair, **options)
        if text_target is None:
            return encoding  # type: ignore[return-value]
        targets = self.target_tokenizer()._call_one(text_target, text_pair_target, **options)
        if encoding is None:
            return targets
        encoding["labels"] = targets["input_ids"]
        return encoding

    def target_tokenizer(self) -> PreTrainedTokenizer:
        """The tokenizer of a seq2seq model's targets (itself; Marian's has its own vocabulary)."""
        return self

    def _call_one(self, text: Text, text_pair: Text | None = None, *, add_special_tokens: bool = True,
                 padding: bool | str = False, truncation: bool | str | None = None, max_length: int | None = None,
                 stride: int = 0, pad_to_multiple_of: int | None = None, return_tensors: str | None = None,
                 return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                 return_offsets_mapping: bool = False, return_special_tokens_mask: bool = False,
                 return_length: bool = False, is_split_into_words: bool = False) -> BatchEncoding:
        """Encode one text (lists out) or a batch (lists of lists out), as transformers does."""
        batched = isinstance(text, list | tuple) and (not is_split_into_words or (text and isinstance(text[0], list | tuple)))
        texts = list(text) if batched else [text]
        pairs = None if text_pair is None else (list(text_pair) if batched else [text_pair])
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError("text and text_pair must have the same number of items")
        encodings = self._encode(texts, pairs, add_special_tokens, padding, truncation, max_length, stride,
                                 pad_to_multiple_of, is_split_into_words)
        want_types = "token_type_ids" in self.model_input_names if return_token_type_ids is None else return_token_type_ids
        want_mask = "attention_mask" in self.model_input_names if return_attention_mask is None else return_attention_mask
        data: dict[str, Any] = {"input_ids": [e.ids for e in encodings]}
        if want_types:
            data["token_type_ids"] = [e.type_ids for e in encodings]
        if want_mask:
            data["attention_mask"] = [e.attention_mask for e in encodings]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in encodings]
        if return_offsets_mapping:
            data["offset_mapping"] = [list(e.offsets) for e in encodings]
        if return_length:
            data["length"] = [len(e.ids) for e in encodings]
        if return_tensors is not None:  # tensors keep the batch axis, (1, T) for one text, as transformers
            data = {k: _to_tensor(v, return_tensors, k) for k, v in data.items()}
        elif not batched:  # as transformers: only per-token lists lose their batch dimension
            data = {k: v[0] if v and isinstance(v[0], list) else v for k, v in data.items()}
        return BatchEncoding(data, encodings)

    def _encode(self, texts: list[Any], pairs: list[Any] | None, add_special_tokens: bool, padding: bool | str,
                truncation: bool | str | None, max_length: int | None, stride: int,
                pad_to_multiple_of: int | None, is_split_into_words: bool) -> list[Encoding]:
        pad_strategy = {True: "longest", False: None, "longest": "longest", "max_length": "max_length",
                        "do_not_pad": None}[padding]
        trunc_strategy = {True: "longest_first", False: None, None: None, "longest_first": "longest_first",
                          "only_first": "only_first", "only_second": "only_second",
                          "do_not_truncate": None}[truncation]
        if truncation is None and max_length is not None and padding is not False:
            trunc_strategy = None
        elif truncation is None and max_length is not None:
            trunc_strategy = "longest_first"  # transformers' default when only max_length is given
        if max_length is None and (trunc_strategy or pad_strategy == "max_length"):
            max_length = self.model_max_length if self.model_max_length < VERY_LARGE_INTEGER else None
            if max_length is None:  # no model limit: transformers warns and neither truncates nor pads to it
                trunc_strategy = None
                pad_strategy = None if pad_strategy == "max_length" else pad_strategy
        if (trunc_strategy and pad_strategy and pad_to_multiple_of and max_length is not None
                and max_length % pad_to_multiple_of):
            raise ValueError(f"Truncation and padding are both activated but truncation length ({max_length}) "
                             f"is not a multiple of pad_to_multiple_of ({pad_to_multiple_of}).")
        tok = self.backend  # its truncation and padding are set for this call and restored after
        saved = (tok._truncation, tok._padding)
        try:
            tok.no_truncation()
            tok.no_padding()
            if trunc_strategy and max_length is not None:
                tok.enable_truncation(max_length, stride=stride, strategy=trunc_strategy, direction=self.truncation_side)
            if pad_strategy:
                if self.pad_token is None:
                    raise ValueError("Asking to pad but the tokenizer does not have a padding token (set pad_token)")
                tok.enable_padding(direction=self.padding_side, pad_id=self.pad_token_id or 0,
                                   pad_type_id=int(self.config.get("pad_token_type_id", 0)), pad_token=self.pad_token,
                                   length=max_length if pad_strategy == "max_length" else None,
                                   pad_to_multiple_of=pad_to_multiple_of)
            items: list[Any] = texts if pairs is None else list(zip(texts, pairs))
            return tok.encode_batch(items, is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens)
        finally:
            tok._truncation, tok._padding = saved

    # -- chat templates ------------------------------------------------------------------------
    def apply_chat_template(self, conversation: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
                            documents: list[dict[str, str]] | None = None, chat_template: str | None = None,
                            add_generation_prompt: bool = False, continue_final_message: bool = False,
                            tokenize: bool = True, padding: bool | str = False, truncation: bool = False,
                            max_length: int | None = None, return_tensors: str | None = None,
                            return_dict: bool = True, template_kwargs: dict[str, Any] | None = None) -> Any:
        """Render `conversation` (or a list of them) with the chat template; tokenized by default,
        returning a `BatchEncoding` (`return_dict=True`, transformers 5's default) or the ids."""
        template = chat_template or self.chat_template
        if template is None:
            raise ValueError("this tokenizer has no chat_template; pass chat_template=")
        batched = bool(conversation) and isinstance(conversation[0], list | tuple)
        conversations = conversation if batched else [conversation]
        variables = {**self.special_tokens, **(template_kwargs or {})}
        rendered = [chat.render(template, list(c), add_generation_prompt=add_generation_prompt,  # type: ignore[arg-type]
                                continue_final_message=continue_final_message, tools=tools, documents=documents,
                                variables=variables) for c in conversations]
        if not tokenize:
            return rendered if batched else rendered[0]
        out = self(rendered if batched else rendered[0], add_special_tokens=False, padding=padding,
                   truncation=truncation, max_length=max_length, return_tensors=return_tensors)
        return out if return_dict else out["input_ids"]


CLEAN_UPS = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def clean_up_tokenization(text: str) -> str:
    """transformers' ``clean_up_tokenization``: the spaces before punctuation and contractions removed."""
    for before, after in CLEAN_UPS:
        text = text.replace(before, after)
    return text


def _to_tensor(value: Any, kind: str, key: str) -> Any:
    import numpy as np

    try:
        array = np.asarray(value, dtype=np.int64)
    except ValueError as e:
        raise ValueError(f"cannot make a tensor of {key!r}: sequences have different lengths; "
                         "use padding=True or padding='max_length'") from e
    if kind == "np":
        return array
    if kind == "pt":
        import torch

        return torch.from_numpy(array)
    raise ValueError(f"return_tensors must be 'np', 'pt' or None, not {kind!r}")


class AutoTokenizer:
    """Entry point: `AutoTokenizer.from_pretrained("org/name")` or a local folder."""

    @staticmethod
    def from_pretrained(repo_or_path: str | Path, *, revision: str | None = None, token: str | None = None,
                        endpoint: str | None = None) -> PreTrainedTokenizer:
        """Load a tokenizer from a local folder, or download the repo's files with `cove.hub`."""
        path = Path(repo_or_path)
        if path.is_dir():
            return _from_folder(path)
        from cove.hub import snapshot_download  # lazily: only repo ids need the hub client

        folder = snapshot_download(str(repo_or_path), revision=revision, token=token, endpoint=endpoint,
                                   allow_patterns=TOKENIZER_FILES)  # never the weights
        return _from_folder(Path(folder))


def _from_folder(folder: Path) -> Any:
    """The tokenizer tokenizer_config.json names: a Marian folder (SentencePiece models and vocab.json,
    no tokenizer.json) builds a `MarianTokenizer`; everything else a `PreTrainedTokenizer`."""
    config = _read_json(folder / "tokenizer_config.json")
    marian = config.get("tokenizer_class") == "MarianTokenizer"
    if marian or (not (folder / "tokenizer.json").is_file() and (folder / "source.spm").is_file()):
        from cove.tokenizers.marian import MarianTokenizer

        return MarianTokenizer(folder, config)
    return PreTrainedTokenizer.from_folder(folder)

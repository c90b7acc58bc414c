"""``PeftModel``: a built model with LoRA adapters; save, load, merge and push them as peft does.

    model = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.print_trainable_parameters()   # trainable params: ... || all params: ... || trainable%: ...
    ...train...
    model.save_pretrained("out")         # adapter_config.json + adapter_model.safetensors
    model = PeftModel.from_pretrained(base, "out")   # or AutoPeftModelForCausalLM.from_pretrained("out")

The module tree is peft's (``base_model.model.<the model's paths>``), so parameter names, the saved
keys and peft's own loaders agree. Other adapters than ``"default"`` are saved in a sub-folder named
after them, as peft does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cove.formats import safetensors as st
from cove.peft import inject
from cove.peft.config import CONFIG_NAME, WEIGHTS_NAME, LoraConfig
from cove.peft.lora import LoraLinear, ModulesToSave, unwrap

DEFAULT = "default"
#: heads a classifier adds to ``modules_to_save`` (peft 0.22's names and order)
CLASSIFIER_HEADS = ("classifier", "score", "pre_classifier")
_SNAPSHOT = re.compile(r"models--(?P<ns>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<commit>[0-9a-f]{40})/?$")


class LoraModel(nn.Module):
    """peft's middle layer: holds the model as ``.model`` (so every name starts ``base_model.model.``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)


class PeftModel(nn.Module):
    """A model with named LoRA adapters, one active (see the module docstring).

    Args:
        model: the built model (changed in place: its targeted layers become ``LoraLinear``).
        config: the first adapter's settings.
        adapter_name: its name.
    """

    def __init__(self, model: nn.Module, config: LoraConfig, adapter_name: str = DEFAULT) -> None:
        super().__init__()
        self.base_model = LoraModel(model)
        self.peft_config: dict[str, LoraConfig] = {}
        self.active_adapter = adapter_name
        self.add_adapter(adapter_name, config)

    # --- the wrapped model ------------------------------------------------------------------

    def get_base_model(self) -> nn.Module:
        """The model inside (with its LoRA layers)."""
        return self.base_model.model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.base_model.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "base_model":
                raise
            return getattr(self.base_model.model, name)

    @property
    def active_peft_config(self) -> LoraConfig:
        return self.peft_config[self.active_adapter]

    # --- adapters ---------------------------------------------------------------------------

    def add_adapter(self, adapter_name: str, config: LoraConfig) -> None:
        """Add a new adapter (its layers join the targeted modules); the active one stays active."""
        if adapter_name in self.peft_config:
            raise ValueError(f"adapter {adapter_name!r} exists already")
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", adapter_name):
            raise ValueError(f"adapter name {adapter_name!r}: use letters, digits, '_' and '-'")
        config = LoraConfig.from_dict(config.to_dict())  # each adapter owns its config
        self._prepare_config(config)
        inject.inject(self.get_base_model(), config, adapter_name)
        self.peft_config[adapter_name] = config
        self.set_adapter(self.active_adapter if self.active_adapter in self.peft_config else adapter_name)

    def _prepare_config(self, config: LoraConfig) -> None:
        """Fill in what peft fills in: the base model's name (where it was loaded from, as peft
        does) and revision, the task's saved modules."""
        name, revision = base_identity(self.get_base_model())
        if name is not None:
            config.base_model_name_or_path = name
            config.revision = config.revision or revision

    def set_adapter(self, adapter_name: str) -> None:
        """Make ``adapter_name`` the one the forward uses and the one that trains (unless loaded for
        inference)."""
        if adapter_name not in self.peft_config:
            raise ValueError(f"no adapter {adapter_name!r}; have {sorted(self.peft_config)}")
        self.active_adapter = adapter_name
        inject.activate(self.get_base_model(), adapter_name)
        config = self.peft_config[adapter_name]
        inject.set_trainable(self.get_base_model(), config, adapter_name)
        if config.inference_mode:
            for p in self.parameters():
                p.requires_grad_(False)

    @contextmanager
    def disable_adapter(self) -> Iterator[None]:
        """Run the base model alone inside the ``with`` block (merged updates are taken out)."""
        wrappers = [m for m in self.get_base_model().modules() if isinstance(m, (LoraLinear, ModulesToSave))]
        for m in wrappers:
            m.disabled = True
        try:
            yield
        finally:
            for m in wrappers:
                m.disabled = False

    def delete_adapter(self, adapter_name: str) -> None:
        if adapter_name not in self.peft_config:
            raise ValueError(f"no adapter {adapter_name!r}")
        if adapter_name == self.active_adapter:
            raise ValueError("set another adapter active before deleting this one")
        for module in self.get_base_model().modules():
            if isinstance(module, LoraLinear) and adapter_name in module.lora_A:
                if adapter_name in module.merged:
                    raise ValueError(f"adapter {adapter_name!r} is merged: unmerge_adapter() first")
                for d in (module.lora_A, module.lora_B, module.lora_dropout):
                    del d[adapter_name]
            elif isinstance(module, ModulesToSave) and adapter_name in module.modules_to_save:
                del module.modules_to_save[adapter_name]
        del self.peft_config[adapter_name]

    # --- merging ----------------------------------------------------------------------------

    def merge_adapter(self) -> None:
        """Add the active adapter's update into the base weights (the forward gives the same output)."""
        for module in self._lora_layers():
            module.merge()

    def unmerge_adapter(self) -> None:
        """Take merged updates out of the base weights again."""
        for module in self._lora_layers():
            module.unmerge()

    def merge_and_unload(self) -> nn.Module:
        """Merge the active adapter and give back the plain model (``nn.Linear`` layers again; a saved
        module becomes the active adapter's copy)."""
        self.merge_adapter()
        return self.unload()

    def unload(self) -> nn.Module:
        """The plain model without the adapters (merged updates stay in its weights)."""
        model = self.get_base_model()
        for path, module in list(model.named_modules()):
            if isinstance(module, (LoraLinear, ModulesToSave)):
                parent, _, attr = path.rpartition(".")
                setattr(model.get_submodule(parent), attr, unwrap(module))
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def _lora_layers(self) -> list[LoraLinear]:
        return [m for m in self.get_base_model().modules() if isinstance(m, LoraLinear)]

    # --- counting ---------------------------------------------------------------------------

    def get_nb_trainable_parameters(self) -> tuple[int, int]:
        """(trainable, all) parameter counts, all including the adapters and saved copies (as peft)."""
        trainable = total = 0
        for p in self.parameters():
            total += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        return trainable, total

    def print_trainable_parameters(self) -> None:
        """Print peft's line: ``trainable params: 1,024 || all params: 9,216 || trainable%: 11.1111``."""
        trainable, total = self.get_nb_trainable_parameters()
        print(f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}")

    # --- files ------------------------------------------------------------------------------

    def adapter_state_dict(self, adapter_name: str | None = None) -> dict[str, torch.Tensor]:
        """What ``adapter_model.safetensors`` holds for the adapter (peft's keys)."""
        name = adapter_name or self.active_adapter
        return inject.adapter_state(self.get_base_model(), self.peft_config[name], name)

    def save_pretrained(
        self, save_directory: str | os.PathLike[str], *, selected_adapters: list[str] | None = None
    ) -> list[str]:
        """Write each adapter's ``adapter_config.json`` (``inference_mode: true``, as peft) and
        ``adapter_model.safetensors`` (``"default"`` in the folder, others in ``<folder>/<name>/``)
        and a README.md card naming the base model. Returns the files written, relative."""
        folder = Path(save_directory)
        written = []
        for name in selected_adapters or list(self.peft_config):
            sub = folder if name == DEFAULT else folder / name
            sub.mkdir(parents=True, exist_ok=True)
            config = LoraConfig.from_dict({**self.peft_config[name].to_dict(), "inference_mode": True})
            config.save_pretrained(sub)
            st.save_file(self.adapter_state_dict(name), sub / WEIGHTS_NAME, metadata={"format": "pt"})
            written += [str((sub / n).relative_to(folder)) for n in (CONFIG_NAME, WEIGHTS_NAME)]
        from cove.peft.card import write_card  # small, but only saving needs it

        written.append(write_card(folder, self.active_peft_config, causal=isinstance(self, PeftModelForCausalLM)))
        return written

    def load_adapter(
        self,
        path_or_repo: str | os.PathLike[str],
        adapter_name: str,
        *,
        is_trainable: bool = False,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Add an adapter saved by ``save_pretrained`` (Cove's or peft's) under ``adapter_name``."""
        config, state = read_adapter(path_or_repo, revision=revision, token=token, endpoint=endpoint)
        config.inference_mode = not is_trainable
        self.add_adapter(adapter_name, config)
        inject.load_adapter_state(self.get_base_model(), state, adapter_name)
        self.set_adapter(self.active_adapter)

    def load_adapter_weights(self, folder: str | os.PathLike[str]) -> None:
        """Load the weights ``save_pretrained`` wrote in ``folder`` into the existing adapters (a
        Trainer resuming or taking its best checkpoint)."""
        folder = Path(folder)
        for name in self.peft_config:
            path = (folder if name == DEFAULT else folder / name) / WEIGHTS_NAME
            if not path.is_file():
                raise FileNotFoundError(f"{path}: adapter {name!r} was not saved there")
            inject.load_adapter_state(self.get_base_model(), st.load_file(path), name)

    @classmethod
    def from_pretrained(
        cls,
        model: nn.Module,
        path_or_repo: str | os.PathLike[str],
        adapter_name: str = DEFAULT,
        *,
        is_trainable: bool = False,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> PeftModel:
        """Wrap ``model`` with the adapter saved in a folder or a Hub repo (frozen unless
        ``is_trainable``); the class follows the adapter's ``task_type``."""
        config, state = read_adapter(path_or_repo, revision=revision, token=token, endpoint=endpoint)
        kind = TASK_CLASSES.get(config.task_type, PeftModel) if cls is PeftModel else cls
        config.inference_mode = not is_trainable
        peft = kind(model, config, adapter_name)
        inject.load_adapter_state(peft.get_base_model(), state, adapter_name)
        return peft if is_trainable else peft.eval()

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        endpoint: str | None = None,
        private: bool = False,
        commit_message: str = "Upload adapter",
    ) -> Any:
        """Save the adapters and their card to a temporary folder and upload it as one commit to
        ``repo_id`` (created if absent). Returns the ``CommitInfo``."""
        from cove.models.modeling import push_saved

        return push_saved(self.save_pretrained, repo_id, token=token, endpoint=endpoint, private=private,
                          commit_message=commit_message)


class PeftModelForCausalLM(PeftModel):
    """A causal LM with adapters (``task_type="CAUSAL_LM"``)."""


class PeftModelForSequenceClassification(PeftModel):
    """A classifier with adapters: the new head (``classifier`` / ``score``, and DistilBERT's
    ``pre_classifier``) trains in full and is saved with the adapter, as peft adds it to ``modules_to_save``."""

    def _prepare_config(self, config: LoraConfig) -> None:
        super()._prepare_config(config)
        config.modules_to_save = [*(config.modules_to_save or []),
                                  *(n for n in CLASSIFIER_HEADS if n not in (config.modules_to_save or []))]


class PeftModelForTokenClassification(PeftModelForSequenceClassification):
    """A token classifier with adapters (its ``classifier`` trains in full, as for sequences)."""


class PeftModelForSeq2SeqLM(PeftModel):
    """An encoder-decoder LM with adapters."""


class PeftModelForQuestionAnswering(PeftModel):
    """An extractive QA model with adapters."""


class PeftModelForFeatureExtraction(PeftModel):
    """A base model with adapters."""


TASK_CLASSES: dict[str | None, type[PeftModel]] = {
    "CAUSAL_LM": PeftModelForCausalLM,
    "SEQ_CLS": PeftModelForSequenceClassification,
    "TOKEN_CLS": PeftModelForTokenClassification,
    "SEQ_2_SEQ_LM": PeftModelForSeq2SeqLM,
    "QUESTION_ANS": PeftModelForQuestionAnswering,
    "FEATURE_EXTRACTION": PeftModelForFeatureExtraction,
}


def get_peft_model(model: nn.Module, peft_config: LoraConfig, adapter_name: str = DEFAULT) -> PeftModel:
    """Wrap ``model`` (in place) with a new LoRA adapter; the class follows ``peft_config.task_type``.
    Only the adapter (and what ``bias`` / ``modules_to_save`` name) trains afterwards."""
    return TASK_CLASSES.get(peft_config.task_type, PeftModel)(model, peft_config, adapter_name)


def read_adapter(
    path_or_repo: str | os.PathLike[str],
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> tuple[LoraConfig, dict[str, torch.Tensor]]:
    """The config and tensors of an adapter folder or Hub repo (peft's files). The rank the config
    states must be the rank of every LoRA matrix in the file, so a hostile config cannot make the
    loader allocate more than the file holds."""
    from cove.models.modeling import resolve_folder

    folder = resolve_folder(path_or_repo, revision=revision, token=token, endpoint=endpoint,
                            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, "README.md"])
    config = LoraConfig.from_pretrained(folder)
    if not (folder / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"{path_or_repo}: no {WEIGHTS_NAME}")
    state = st.load_file(folder / WEIGHTS_NAME)
    ranks = {tuple(t.shape)[0] for k, t in state.items() if k.endswith("lora_A.weight")}
    if ranks != {config.r}:
        raise ValueError(f"{path_or_repo}: adapter_config.json says r={config.r}, the LoRA matrices have ranks"
                         f" {sorted(ranks) or 'none'}")
    config.init_lora_weights = True  # the file's values replace the initial ones: skip any costly init
    return config, state


def attach_adapter(model: nn.Module, folder: str | os.PathLike[str], adapter_name: str) -> LoraConfig:
    """Add the adapter saved in ``folder`` to a plain model in place, frozen and inactive (see
    :func:`cove.peft.inject.activate`): many adapters then share one copy of the base weights, as
    the Hub's inference does. Returns the adapter's config."""
    config, state = read_adapter(folder)
    inject.inject(model, config, adapter_name)
    inject.load_adapter_state(model, state, adapter_name)
    for p in model.parameters():
        p.requires_grad_(False)
    return config


def base_identity(model: nn.Module) -> tuple[str | None, str | None]:
    """(name, revision) of the checkpoint a model was loaded from: a Hub cache snapshot gives the repo
    id and its commit; another folder its path; a model built in memory (None, None)."""
    where = getattr(model, "name_or_path", None)
    if where is None:
        return None, None
    m = _SNAPSHOT.search(Path(where).as_posix())
    if m:
        return f"{m['ns']}/{m['name']}", m["commit"]
    return str(where), None

"""``AutoPeftModel*``: load the base model an adapter names (``base_model_name_or_path`` at
``revision``) with the matching Cove Auto class, then the adapter on it."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from cove.models import auto
from cove.peft.config import LoraConfig
from cove.peft.model import PeftModel


class AutoPeftModel:
    """The base model's class follows the adapter's ``task_type`` (a base model when None)."""

    auto_class: ClassVar[Any] = None
    TASKS: ClassVar[dict[str | None, Any]] = {
        "CAUSAL_LM": auto.AutoModelForCausalLM,
        "SEQ_CLS": auto.AutoModelForSequenceClassification,
        "TOKEN_CLS": auto.AutoModelForTokenClassification,
        "SEQ_2_SEQ_LM": auto.AutoModelForSeq2SeqLM,
        "QUESTION_ANS": auto.AutoModelForQuestionAnswering,
        "FEATURE_EXTRACTION": auto.AutoModel,
        None: auto.AutoModel,
    }

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike[str],
        adapter_name: str = "default",
        *,
        is_trainable: bool = False,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        **base_options: Any,
    ) -> PeftModel:
        """Args:
        path_or_repo: the adapter (a folder or Hub repo id).
        revision / token / endpoint: of the adapter repo (the base is read at the adapter's
            ``revision`` field, from the same endpoint with the same token).
        base_options: for the base model's ``from_pretrained`` (``dtype=...``, ``num_labels=...``).
        """
        config = LoraConfig.from_pretrained(path_or_repo, revision=revision, token=token, endpoint=endpoint)
        if not config.base_model_name_or_path:
            raise ValueError(f"{path_or_repo}: adapter_config.json names no base_model_name_or_path")
        loader = cls.auto_class or cls.TASKS.get(config.task_type, auto.AutoModel)
        base = loader.from_pretrained(
            config.base_model_name_or_path, revision=config.revision, token=token, endpoint=endpoint, **base_options
        )
        return PeftModel.from_pretrained(
            base, path_or_repo, adapter_name, is_trainable=is_trainable, revision=revision, token=token,
            endpoint=endpoint,
        )


class AutoPeftModelForCausalLM(AutoPeftModel):
    auto_class = auto.AutoModelForCausalLM


class AutoPeftModelForSequenceClassification(AutoPeftModel):
    auto_class = auto.AutoModelForSequenceClassification


class AutoPeftModelForTokenClassification(AutoPeftModel):
    auto_class = auto.AutoModelForTokenClassification

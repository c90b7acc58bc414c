"""``cove login|logout|whoami``, ``cove repo create|delete|list``, ``cove upload``, ``cove download``,
``cove cache ls|rm|verify``: the hub client from the shell.

Transfers show tqdm progress bars on stderr; ``--quiet`` turns them off. ``cove download`` prints
the local path alone on the last line of stdout.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import sys
from pathlib import Path

from cove.protocol import REPO_TYPES


def _common(p: argparse.ArgumentParser, *, repo_type: bool = False) -> None:
    p.add_argument("--endpoint", default=None, help="the Hub URL (default COVE_ENDPOINT, HF_ENDPOINT or http://127.0.0.1:8000)")
    p.add_argument("--token", default=None, help="an access token (default COVE_TOKEN, HF_TOKEN, or the token `cove login` or `hf auth login` saved)")
    if repo_type:
        p.add_argument("--repo-type", "--type", dest="repo_type", choices=list(REPO_TYPES), default="model")


def _friendly(fn):
    """Report an unreachable Hub in one line instead of a traceback."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        import httpx

        try:
            return fn(args)
        except httpx.TransportError as e:
            from cove.hub.config import resolve_config

            endpoint = resolve_config(getattr(args, "endpoint", None), False).endpoint
            print(f"error: cannot reach the Hub at {endpoint} ({e}); is it running? (--endpoint, COVE_ENDPOINT or HF_ENDPOINT)",
                  file=sys.stderr)
            return 1

    return run


def _api(args: argparse.Namespace):
    from cove.hub import HubApi

    return HubApi(args.endpoint, args.token, cache_dir=getattr(args, "cache_dir", None))


def register(sub) -> None:
    p = sub.add_parser("login", help="save a token for the hub client (checked against the Hub)")
    _common(p)
    p.set_defaults(func=_friendly(login))
    p = sub.add_parser("logout", help="forget the saved token")
    p.set_defaults(func=logout)
    p = sub.add_parser("whoami", help="show the account of the token")
    _common(p)
    p.set_defaults(func=_friendly(whoami))

    repo = sub.add_parser("repo", help="create, delete and list repos").add_subparsers(dest="action", metavar="ACTION")
    p = repo.add_parser("create", help="create a repo")
    p.add_argument("repo_id", metavar="REPO")
    p.add_argument("--private", action="store_true")
    p.add_argument("--exist-ok", action="store_true")
    p.add_argument("--space-sdk", default=None, choices=["gradio", "streamlit", "docker", "static"])
    _common(p, repo_type=True)
    p.set_defaults(func=_friendly(repo_create))
    p = repo.add_parser("delete", help="delete a repo")
    p.add_argument("repo_id", metavar="REPO")
    p.add_argument("--missing-ok", action="store_true")
    _common(p, repo_type=True)
    p.set_defaults(func=_friendly(repo_delete))
    p = repo.add_parser("list", help="list repos")
    p.add_argument("--author", default=None)
    p.add_argument("--search", default=None)
    p.add_argument("--limit", type=int, default=None)
    _common(p, repo_type=True)
    p.set_defaults(func=_friendly(repo_list))

    p = sub.add_parser("upload", help="upload a file or a folder to a repo in one commit")
    p.add_argument("repo_id", metavar="REPO")
    p.add_argument("path", metavar="PATH", help="a local file or folder")
    p.add_argument("path_in_repo", metavar="PATH_IN_REPO", nargs="?", default=None,
                   help="where it goes (default: the file name, or the repo root for a folder)")
    p.add_argument("--revision", default=None, help="the branch to commit to (default main)")
    p.add_argument("--commit-message", "-m", default=None)
    p.add_argument("--include", nargs="*", default=None, help="only files matching these patterns (folders)")
    p.add_argument("--exclude", nargs="*", default=None, help="skip files matching these patterns (folders)")
    p.add_argument("--delete", nargs="*", default=None, help="delete remote files matching these patterns (folders)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    _common(p, repo_type=True)
    p.set_defaults(func=_friendly(upload))

    p = sub.add_parser("download", help="download files of a repo (all of them by default)")
    p.add_argument("repo_id", metavar="REPO")
    p.add_argument("files", metavar="FILES", nargs="*")
    p.add_argument("--revision", default=None)
    p.add_argument("--local-dir", default=None, help="write plain files here instead of the cache")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--include", nargs="*", default=None)
    p.add_argument("--exclude", nargs="*", default=None)
    p.add_argument("--force-download", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    _common(p, repo_type=True)
    p.set_defaults(func=_friendly(download))

    cache = sub.add_parser("cache", help="inspect and clean the download cache").add_subparsers(
        dest="action", metavar="ACTION")
    p = cache.add_parser("ls", help="size per repo and revision")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cache_ls)
    p = cache.add_parser("rm", help="remove a repo, or one revision of it, from the cache")
    p.add_argument("repo_id", metavar="REPO")
    p.add_argument("--revision", default=None, help="a commit or ref; default: the whole repo")
    p.add_argument("--repo-type", "--type", dest="repo_type", choices=list(REPO_TYPES), default="model")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cache_rm)
    p = cache.add_parser("verify", help="re-hash every cached blob and report the corrupted ones")
    p.add_argument("--remove", action="store_true", help="delete corrupted blobs (they are fetched again)")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cache_verify)


def login(args: argparse.Namespace) -> int:
    from cove.hub import HubApi
    from cove.hub.config import save_token

    token = args.token or (sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("Token: "))
    if not token:
        print("error: no token given", file=sys.stderr)
        return 1
    with HubApi(args.endpoint, token) as api:
        name = api.whoami()["name"]
    path = save_token(token)
    print(f"Logged in as {name} on {api.endpoint}; token saved to {path}")
    return 0


def logout(args: argparse.Namespace) -> int:
    from cove.hub.config import delete_token

    print("Token removed" if delete_token() else "No saved token")
    return 0


def whoami(args: argparse.Namespace) -> int:
    with _api(args) as api:
        me = api.whoami()
    orgs = ", ".join(o["name"] for o in me.get("orgs", []))
    print(me["name"] + (f" (orgs: {orgs})" if orgs else ""))
    return 0


def repo_create(args: argparse.Namespace) -> int:
    with _api(args) as api:
        url = api.create_repo(args.repo_id, repo_type=args.repo_type, private=args.private or None,
                              exist_ok=args.exist_ok, space_sdk=args.space_sdk)
    print(url)
    return 0


def repo_delete(args: argparse.Namespace) -> int:
    with _api(args) as api:
        api.delete_repo(args.repo_id, repo_type=args.repo_type, missing_ok=args.missing_ok)
    print(f"Deleted {args.repo_type} {args.repo_id}")
    return 0


def repo_list(args: argparse.Namespace) -> int:
    with _api(args) as api:
        kind = {"model": api.list_models, "dataset": api.list_datasets, "space": api.list_spaces,
                "kernel": api.list_kernels}[args.repo_type]
        for info in kind(author=args.author, search=args.search, limit=args.limit):
            print(f"{info.id}\t{'private' if info.private else 'public'}\t{info.downloads} downloads")
    return 0


def upload(args: argparse.Namespace) -> int:
    path = Path(args.path)
    with _api(args) as api:
        if path.is_dir():
            info = api.upload_folder(repo_id=args.repo_id, folder_path=path, path_in_repo=args.path_in_repo,
                                     repo_type=args.repo_type, revision=args.revision,
                                     commit_message=args.commit_message, allow_patterns=args.include,
                                     ignore_patterns=args.exclude, delete_patterns=args.delete,
                                     progress=not args.quiet)
        elif path.is_file():
            info = api.upload_file(path_or_fileobj=path, path_in_repo=args.path_in_repo or path.name,
                                   repo_id=args.repo_id, repo_type=args.repo_type, revision=args.revision,
                                   commit_message=args.commit_message, progress=not args.quiet)
        else:
            print(f"error: {path} does not exist", file=sys.stderr)
            return 1
    print(info.commit_url)
    return 0


def download(args: argparse.Namespace) -> int:
    with _api(args) as api:
        if len(args.files) == 1 and not args.include and not args.exclude:
            out = api.download(args.repo_id, args.files[0], revision=args.revision, repo_type=args.repo_type,
                               local_dir=args.local_dir, force_download=args.force_download, progress=not args.quiet)
        else:
            allow = list(args.files) + list(args.include or []) or None
            out = api.snapshot_download(args.repo_id, revision=args.revision, repo_type=args.repo_type,
                                        allow_patterns=allow, ignore_patterns=args.exclude, local_dir=args.local_dir,
                                        force_download=args.force_download, progress=not args.quiet)
    print(out)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n}"


def _cache_dir(args: argparse.Namespace) -> Path:
    from cove.hub.config import default_cache_dir

    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


def cache_ls(args: argparse.Namespace) -> int:
    from cove.hub import scan_cache

    root = _cache_dir(args)
    repos = scan_cache(root)
    print(f"{'REPO':<40} {'TYPE':<8} {'REVISION':<42} {'SIZE':>8} {'FILES':>6} REFS")
    for repo in repos:
        print(f"{repo.repo_id:<40} {repo.repo_type:<8} {'(all)':<42} {_size(repo.size):>8}")
        for rev in repo.revisions:
            print(f"{'':<40} {'':<8} {rev.commit:<42} {_size(rev.size):>8} {rev.files:>6} {','.join(rev.refs)}")
    print(f"{len(repos)} repos, {_size(sum(r.size for r in repos))} in {root}")
    return 0


def cache_rm(args: argparse.Namespace) -> int:
    from cove.hub import delete_cached

    freed = delete_cached(_cache_dir(args), args.repo_id, args.repo_type, args.revision)
    what = f"{args.repo_id}@{args.revision}" if args.revision else args.repo_id
    print(f"Removed {what}: {_size(freed)} freed" if freed else f"{what} is not in the cache")
    return 0


def cache_verify(args: argparse.Namespace) -> int:
    from cove.hub import verify_cache

    bad = verify_cache(_cache_dir(args), remove=args.remove)
    for path in bad:
        print(f"corrupted: {path}" + (" (removed)" if args.remove else ""))
    print(f"{len(bad)} corrupted blobs")
    return 1 if bad and not args.remove else 0

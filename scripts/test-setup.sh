#!/usr/bin/env bash
# System packages the tests drive for real: git-lfs (clone/push with LFS), Debian's Chromium (the web
# UI test, through Playwright), nginx (in front of several Hub replicas: tests/e2e/test_replicas.py, run
# as the test user on a loopback port) and PostgreSQL's server binaries (the tests start their own throwaway
# cluster: tests/postgres.py) and pocketsphinx-testdata (LibriVox clips with transcripts: the speech
# tests and Whisper's measured WER), bubblewrap (the Space runner's sandbox: tests/spaces). Installed once; a machine that has them skips this quickly.
set -euo pipefail
need=()
command -v git-lfs >/dev/null 2>&1 || need+=(git-lfs)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# Fashion-MNIST (IDX files): the image classifier the Trainer fine-tunes (tests/training/test_vision.py)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
# LibriVox clips with transcripts: Whisper's word error rate (tests/pipelines/test_asr.py)
[ -f /usr/share/pocketsphinx/test/data/librivox/transcription ] || need+=(pocketsphinx-testdata)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test-setup: please install ${need[*]} (apt-get install ${need[*]}); their tests will be skipped" >&2
  fi
fi

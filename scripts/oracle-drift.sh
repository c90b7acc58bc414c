#!/usr/bin/env bash
# The reference libraries the parity tests run against are capped in pyproject.toml's `dev` extra.
# This lists, for each, the version installed in the venv and the newest on the package index, so a
# session sees a new release before CI does. To move a cap: install the new release in the venv, run
# `make test` (and the hfsuite for huggingface_hub), fix what it shows, then edit the cap.
set -euo pipefail
BIN=${VENV:-.venv}/bin
for p in huggingface_hub hf_xet transformers tokenizers safetensors datasets peft sentence-transformers gradio_client; do
  have=$("$BIN/pip" show "$p" 2>/dev/null | sed -n 's/^Version: //p')
  newest=$("$BIN/pip" index versions "$p" 2>/dev/null | sed -n '1s/.*(\(.*\))/\1/p')
  mark=""
  [[ -n "$newest" && "$have" != "$newest" ]] && mark="  <- newer release"
  printf '%-22s installed %-10s newest %-10s%s\n' "$p" "${have:--}" "${newest:--}" "$mark"
done

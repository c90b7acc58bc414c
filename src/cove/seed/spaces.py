"""The seeded Spaces: ``cove/sentiment-demo``, a Gradio app that classifies text with the seeded
``cove/minilm-sentiment`` through the Hub's inference API (which runs it with ``cove.pipeline``), and
``cove/welcome``, a static page. The Hub's Space runner builds and runs both (docs/spaces.md)."""

from __future__ import annotations

from pathlib import Path

SENTIMENT_README = """---
title: Sentiment demo
emoji: 🙂
sdk: gradio
app_file: app.py
short_description: Classify a sentence with cove/minilm-sentiment
models:
- cove/minilm-sentiment
---
# Sentiment demo

Type a sentence: the app sends it to this Hub's inference API, which runs the seeded
[`cove/minilm-sentiment`](/cove/minilm-sentiment) with `cove.pipeline("text-classification")`, and shows
the two labels' scores. The app runs as a Space: its own process and venv, behind the Hub's proxy.
"""

SENTIMENT_APP = '''"""Classify text with cove/minilm-sentiment through the Hub's inference API (HF_ENDPOINT is the Hub)."""
import os

import gradio as gr
import httpx

HUB = os.environ.get("HF_ENDPOINT", "http://127.0.0.1:8000").rstrip("/")
MODEL = "cove/minilm-sentiment"


def classify(text: str) -> dict:
    answer = httpx.post(f"{HUB}/api/inference/{MODEL}", json={"inputs": text}, timeout=300)
    if answer.status_code != 200:
        raise gr.Error(f"The Hub answered {answer.status_code}: {answer.text[:300]}")
    scores = answer.json()
    while scores and isinstance(scores[0], list):  # one list per input
        scores = scores[0]
    return {s["label"]: s["score"] for s in scores}


demo = gr.Interface(
    classify,
    gr.Textbox(label="Text", placeholder="The movie was wonderful"),
    gr.Label(label="Sentiment"),
    title="Sentiment demo",
    description="cove/minilm-sentiment, run by this Hub with cove.pipeline",
    examples=["The movie was wonderful", "This is the worst service I have ever had"],
    flagging_mode="never",
)
demo.launch()
'''

WELCOME_README = """---
title: Welcome
emoji: 👋
sdk: static
app_file: index.html
short_description: A static Space served from its repo
---
# Welcome

A static Space: the Hub serves `index.html` and its files straight from the repo.
"""

WELCOME_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Welcome to Cove</title>
<link rel="stylesheet" href="style.css"></head>
<body><main>
<h1>Welcome to Cove</h1>
<p>This page is a <strong>static Space</strong>: plain files in a repo, served by the Hub.</p>
<p>Try <code>cove/sentiment-demo</code>, a Gradio Space that runs the seeded sentiment model.</p>
</main></body></html>
"""

WELCOME_CSS = "body { font-family: system-ui, sans-serif; margin: 3rem; color: #1f2328; } h1 { color: #0969da; }\n"


def build_sentiment_demo(folder: Path) -> None:
    (folder / "README.md").write_text(SENTIMENT_README, encoding="utf-8")
    (folder / "app.py").write_text(SENTIMENT_APP, encoding="utf-8")


def build_welcome(folder: Path) -> None:
    (folder / "README.md").write_text(WELCOME_README, encoding="utf-8")
    (folder / "index.html").write_text(WELCOME_HTML, encoding="utf-8")
    (folder / "style.css").write_text(WELCOME_CSS, encoding="utf-8")

"""File formats Cove reads and writes: safetensors, config.json, GGUF.

Nothing here imports torch at import time; tensors are made inside the functions that return them.
"""

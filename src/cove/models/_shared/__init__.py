"""Infrastructure every architecture shares: KV cache, attention dispatch and masks, RoPE tables.

Nothing here knows a model family; a block with one family's semantics lives in that family's file.
"""

"""Images and audio -> tensors: audio loading and resampling (``audio``), Whisper's log-mel
features and processor (``whisper``), and the Auto classes (``auto``)."""

"""A deterministic, varied test corpus for tokenizer parity (no network, seeded).

Lines mix English prose, accented Latin, Greek, Cyrillic, Arabic, Hebrew, Devanagari, CJK, Thai,
Korean, emoji (with ZWJ sequences and skin tones), combining marks, code, numbers, URLs,
whitespace runs (tabs, newlines, non-breaking spaces), empty lines, very long lines and the
special tokens of the tokenizer under test inside the text.
"""

from __future__ import annotations

import random

_WORDS = (
    "the of and to in is was he for it with as his on be at by I this had not are but from or have an they "
    "which one you were her all she there would their we him been has when who will more no if out so said "
    "what up its about into than them can only other new some could time these two may then do first any my "
    "now such like our over man me even most made after also did many before must through back years where "
    "much your way well down should because each just those people Mr how too little state good very make "
    "world still own see men work long get here between both life being under never day same another know "
    "don't isn't we're they've I'll she'd it's O'Neil rock'n'roll tokenization Hugging Face transformers"
).split()
_ACCENTED = ("café naïve résumé über Straße façade coöperate élève Ångström señor año niño São Paulo crème brûlée "
             "Ærø Øresund Łódź Dvořák Škoda İstanbul ıi ĳ ﬁnance Ǆ ß ẞ").split()
_SCRIPTS = [
    "Καλημέρα κόσμε, ΟΔΟΣ σοφία", "Привет, мир! Съешь же ещё этих мягких французских булок",
    "مرحبا بالعالم، كيف حالك؟", "שלום עולם", "नमस्ते दुनिया, यह एक परीक्षण है",
    "你好，世界！我爱自然语言处理。", "こんにちは世界、カタカナとひらがな", "안녕하세요 세계", "สวัสดีชาวโลก",
    "Xin chào thế giới", "Γειά σου Κόσμε", "ⅠⅡⅢ ①②③ ½ ¼ ²³ ٣٤٥ ४२", "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３",
]
_EMOJI = ["😀", "🎉", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "🤖", "🚀", "✨", "🧑🏿‍💻", "☕", "🏳️‍🌈"]
_CODE = [
    "def f(x):\n    return x ** 2  # square", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if __name__ == '__main__':\n\tmain()", "SELECT * FROM users WHERE id = 42;",
    "const x = {a: 1, 'b': [2, 3]};", "<div class=\"note\">Hello&nbsp;world</div>",
    "https://example.com/path?q=1&r=two#frag", "user@example.org", "C:\\Program Files\\app.exe",
    "x_1 = y__2 + __init__", "$ git commit -m 'fix: offsets'",
]
_COMBINING = ["e\u0301", "a\u0308", "o\u0302\u0323", "n\u0303", "Z\u0335", "i\u0307"]
_SPACES = [" ", "  ", "   ", "\t", "\n", " \n ", "\u00a0", "\u3000", "\u2009", "\r\n", "      "]
_PUNCT = list(".,;:!?-—()[]{}\"'«»…/*&%$#@+=<>|~^`")


def _word(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        w = rng.choice(_WORDS)
        return w.capitalize() if rng.random() < 0.1 else (w.upper() if rng.random() < 0.02 else w)
    if r < 0.68:
        return rng.choice(_ACCENTED)
    if r < 0.78:
        words = rng.choice(_SCRIPTS).split()
        return rng.choice(words) if rng.random() < 0.5 else " ".join(words)
    if r < 0.83:
        return rng.choice(_EMOJI)
    if r < 0.88:
        return str(rng.randrange(10 ** rng.randint(1, 9)))
    if r < 0.92:
        return rng.choice(_WORDS) + rng.choice(_COMBINING)
    if r < 0.96:
        return rng.choice(_PUNCT) * rng.randint(1, 3)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(rng.randint(1, 12)))


def make_line(rng: random.Random, specials: tuple[str, ...] = ()) -> str:
    r = rng.random()
    if r < 0.03:
        return ""
    if r < 0.05:
        return rng.choice(_SPACES) * rng.randint(1, 4)
    if r < 0.12:
        return rng.choice(_CODE)
    n = rng.randint(1, 25) if rng.random() < 0.97 else rng.randint(200, 600)
    parts: list[str] = []
    for _ in range(n):
        parts.append(_word(rng))
        if specials and rng.random() < 0.03:
            parts.append(rng.choice(specials))
        s = rng.random()
        if s < 0.8:
            parts.append(" ")
        elif s < 0.9:
            parts.append(rng.choice(_PUNCT) + " ")
        elif s < 0.97:
            parts.append(rng.choice(_SPACES))
    line = "".join(parts)
    if rng.random() < 0.1:
        line = rng.choice(_SPACES) + line
    if rng.random() < 0.5:
        line = line.rstrip(" ")
    return line


def make_corpus(n_lines: int = 20_000, seed: int = 0, specials: tuple[str, ...] = ()) -> list[str]:
    """`n_lines` lines; the same seed always gives the same lines."""
    rng = random.Random(seed)
    return [make_line(rng, specials) for _ in range(n_lines)]


def training_corpus(n_lines: int = 6_000, seed: int = 1) -> list[str]:
    """Text to train the test tokenizers on (no special tokens inside)."""
    return make_corpus(n_lines, seed)

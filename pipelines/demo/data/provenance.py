"""Check that demo text is our own: no run of 13 words may match the seed article.

The article itself is not part of the project, so `seed_fingerprints.txt` keeps only a short hash of
each of its 13-word runs (lower-cased words, punctuation dropped). A hash cannot be read back into
text, yet any copied sentence longer than 12 words hits one of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from functools import cache
from importlib import resources

RUN_WORDS = 13  # a sentence of 12 words or fewer may match by chance; longer ones are copies
FINGERPRINTS_FILE = "seed_fingerprints.txt"
_WORD = re.compile(r"[a-z0-9]+")


def word_runs(text: str, length: int = RUN_WORDS) -> Iterable[str]:
    words = _WORD.findall(text.lower())
    return (" ".join(words[start : start + length]) for start in range(len(words) - length + 1))


def fingerprint(run: str) -> str:
    return hashlib.blake2b(run.encode(), digest_size=5).hexdigest()  # 40 bits: chance hits ~1e-8 per run


def fingerprints_of(text: str) -> list[str]:
    """Sorted distinct fingerprints of every 13-word run in `text` (what the file holds for the article)."""
    return sorted({fingerprint(run) for run in word_runs(text)})


@cache
def seed_fingerprints() -> frozenset[str]:
    source = resources.files(__package__).joinpath(FINGERPRINTS_FILE)
    return frozenset(line.strip() for line in source.read_text(encoding="ascii").splitlines() if line.strip())


def copied_runs(text: str, known: Collection[str] | None = None) -> list[str]:
    """The 13-word runs of `text` that also occur in the seed article (or in the text `known` was
    fingerprinted from); empty when the text is our own."""
    known = seed_fingerprints() if known is None else known
    return [run for run in word_runs(text) if fingerprint(run) in known]

"""How good one generated reply is, for the training gate: 0-1, higher is closer to what the reviewer chose.

score = closeness to the chosen reply x distinct-2 (the share of the reply's word bigrams that are distinct).

- Closeness is chrF (character 6-grams, sacrebleu) to the chosen reply by default; `pipelines` passes the
  task's own scorer where the eval config has one (e.g. whether the reply states the chosen decision).
- distinct-2 punishes degenerate repetition ("Neck, Head, Head, Head, ..."), which chrF and embedding
  similarity both reward when the repeated words occur in the chosen reply. Fluent replies of a draft's length
  repeat almost no word bigram (distinct-2 ~1, so their score is their closeness); a loop drives it to 0.

reply_score("Assessment: stable. Plan: discharge.", "Assessment: stable angina. Plan: discharge.") -> ~0.7
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sacrebleu.metrics import CHRF

_CHRF = CHRF()  # sacrebleu's defaults: character 6-grams, beta 2 (chrF, not chrF++)
_WORD = re.compile(r"\w+")

# (task, reply, chosen) -> closeness 0-1, before the repetition factor
Closeness = Callable[[str, str, str], float]


def chrf(hypothesis: str, reference: str) -> float:
    """Sentence-level chrF, 0-100."""
    return float(_CHRF.sentence_score(hypothesis, [reference]).score)


def distinct_bigrams(text: str) -> float:
    """Share of the text's word bigrams (lower-cased) that are distinct; 1.0 for a text of fewer than 3 words."""
    words = [word.lower() for word in _WORD.findall(text)]
    bigrams = list(zip(words, words[1:], strict=False))
    if len(bigrams) < 2:
        return 1.0
    return len(set(bigrams)) / len(bigrams)


def chrf_closeness(task: str, reply: str, chosen: str) -> float:
    """chrF to the chosen reply, 0-1 (the default closeness; every task has a chosen reply)."""
    return chrf(reply, chosen) / 100


def reply_score(reply: str, chosen: str, task: str = "", closeness: Closeness = chrf_closeness) -> float:
    """The gate's score of one reply: closeness to the chosen reply times its distinct-2; an empty reply is 0."""
    if not reply.strip():
        return 0.0
    return closeness(task, reply, chosen) * distinct_bigrams(reply)

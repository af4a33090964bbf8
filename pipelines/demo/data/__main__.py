"""`python -m pipelines.demo.data`: rewrite pool.jsonl from the facts (run after editing the YAML).

`python -m pipelines.demo.data --fingerprints ARTICLE.txt` also rewrites the seed article's
fingerprints used by the originality check.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.demo.data import POOL_FILE, pool_lines
from pipelines.demo.data.provenance import FINGERPRINTS_FILE, fingerprints_of

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo.data", description=__doc__)
    parser.add_argument("--fingerprints", type=Path, help="the seed article (plain text) to fingerprint")
    args = parser.parse_args()
    here = Path(__file__).parent
    lines = pool_lines()
    (here / POOL_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} prompts to {here / POOL_FILE}")
    if args.fingerprints:
        prints = fingerprints_of(args.fingerprints.read_text(encoding="utf-8"))
        (here / FINGERPRINTS_FILE).write_text("\n".join(prints) + "\n", encoding="ascii")
        print(f"wrote {len(prints)} fingerprints to {here / FINGERPRINTS_FILE}")

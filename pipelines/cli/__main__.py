"""`python -m pipelines.cli` (the tests, `accelerate launch -m pipelines.cli train dpo`)."""

import sys

from pipelines.cli import app

sys.exit(app())

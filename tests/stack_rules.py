"""The routing rules the session stack serves: the shipped configs/routing.yaml plus one track_record rule,
switched on, for a task no other test sends (tests/integration/test_routing_track_record_stack.py). Every
other task is routed exactly as the shipped file routes it; the shipped track_record rule stays off."""

from __future__ import annotations

from pathlib import Path

SHIPPED_RULES = Path(__file__).resolve().parent.parent / "configs" / "routing.yaml"
TRACK_RECORD_TASK = "track-record-stack"
TRACK_RECORD_RULE = "track-record.stack-test"

# appended to the shipped file's `rules:` list (its last key), so the file keeps its comments and version;
# 100 decided reviews before it fits, 70% of them held out for the calibration bound (as the fit test's)
_ADDED_RULE = f"""
  - id: {TRACK_RECORD_RULE}
    kind: track_record
    decision: review
    tasks: [{TRACK_RECORD_TASK}]
    description: The session stack's test rule (tests/stack_rules.py).
    params: {{min_decisions: 100, calibration_share: 0.7}}
"""


def write_stack_rules(folder: Path) -> Path:
    """The shipped rules plus the test's track_record rule, as a file in `folder`."""
    rules = folder / "routing.yaml"
    shipped = SHIPPED_RULES.read_text(encoding="utf-8").rstrip("\n")
    rules.write_text(shipped + "\n" + _ADDED_RULE, encoding="utf-8")
    return rules

"""pipelines/allocator.py: after keep_freed_memory(), blocks freed and allocated again reuse mapped pages
instead of faulting new ones in (a fresh process each way, counted with getrusage)."""

from __future__ import annotations

import json
import subprocess
import sys

CYCLES = """
import json, resource, sys
sys.path.insert(0, {root!r})
if {tuned}:
    from pipelines.allocator import keep_freed_memory
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    # four 8 MiB blocks filled with ones (every page touched), then all freed: the way a decoding step's
    # activations come and go
    blocks = [b"\x01" * (8 * 1024 * 1024) for _ in range(4)]
    del blocks
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def _faults(tuned: bool) -> int:
    from pipelines.config import PROJECT_ROOT

    code = CYCLES.format(root=str(PROJECT_ROOT), tuned=tuned)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(json.loads(out))


def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    default, tuned = _faults(False), _faults(True)
    pages_per_block = 8 * 1024 * 1024 // 4096
    two_steps = 2 * 4 * pages_per_block
    # glibc's default gives freed blocks back and faults them in again; how often depends on its dynamic mmap
    # threshold, which earlier allocations move (about half the 20 steps on this machine), so the bound is
    # only that it happens more than once
    assert default > two_steps
    assert tuned < two_steps  # kept: the first step's pages serve the other 19

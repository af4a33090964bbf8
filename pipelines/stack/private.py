"""TACIT_HOME is private: it holds every API key, the webhook secret and every prompt (PII).

Directories 0700, files 0600, and a 077 umask for `tacit up` and everything it starts, so a file a
component creates later is private too. `make_private` also tightens what an older tacit left open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private(home: Path) -> int:
    """Create `home` 0700 if needed and take group/other access off everything under it (symlinks are
    left alone: their targets are not ours to change). Returns how many modes were tightened."""
    home.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tightened = _tighten(home, DIR_MODE)
    for root, dirs, files in os.walk(home):
        for name in dirs:
            tightened += _tighten(Path(root) / name, DIR_MODE)
        for name in files:
            tightened += _tighten(Path(root) / name, FILE_MODE)
    return tightened


def _tighten(path: Path, mode: int) -> int:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 == 0:
        return 0
    # Keep the owner's bits (an executable stays executable for its owner), drop everyone else's.
    os.chmod(path, (stat.S_IMODE(info.st_mode) | (mode & 0o700)) & 0o700)
    return 1


def open_files_to_others(home: Path) -> list[str]:
    """Paths under `home` that a group or other user can read, write or enter (for checks and tests)."""
    found = []
    for root, dirs, files in os.walk(home):
        for name in (*dirs, *files):
            path = Path(root) / name
            info = path.lstat()
            if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
                found.append(f"{path.relative_to(home)} {stat.filemode(info.st_mode)}")
    if stat.S_IMODE(home.stat().st_mode) & 0o077:
        found.append(f". {stat.filemode(home.stat().st_mode)}")
    return found

"""Files tacit writes where the operator says (audit exports, checkpoints): private, never through a link.

Opened with O_NOFOLLOW, so a symbolic link planted at the path (by whoever can write that folder) cannot
redirect the trail or a checkpoint into a file of the planter's choosing; only a regular file is written
(no device, no FIFO that could block); created 0600 and made 0600 when it was wider, whatever the umask.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pipelines.errors import BadInput

PRIVATE_MODE = 0o600


class UnsafeOutput(BadInput):
    """The output path is a link or not a regular file, or cannot be opened; the message names it."""


def open_private(path: Path, *, append: bool) -> int:
    """A write-only descriptor on `path` (appended to, or truncated), the file 0600. Raises UnsafeOutput."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_APPEND if append else 0
    try:
        fd = os.open(path, flags, PRIVATE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeOutput(
                f"{path} is a symbolic link: tacit does not write through links (whoever made it would choose "
                "the file); name the real file"
            ) from None
        raise UnsafeOutput(f"cannot write {path} ({exc.strerror}): name a file you can write") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeOutput(f"{path} is not a regular file: name a file (or - for stdout)")
        if stat.S_IMODE(info.st_mode) != PRIVATE_MODE:
            os.fchmod(fd, PRIVATE_MODE)  # an existing file readable by others: the trail is not for them
        if not append:
            os.ftruncate(fd, 0)  # only now: a refused path is left as it was
    except BaseException:
        os.close(fd)
        raise
    return fd

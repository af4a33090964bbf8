"""Which live process is the one `tacit up` started: identity that a wall-clock step does not move.

A pid file records the pid, the kernel's boot id and the process's start time in clock ticks since boot
(`/proc/<pid>/stat`, field 22), plus the argv it was started with. Ticks since boot never change for a
process, whatever NTP or a resumed VM does to the wall clock; psutil's `create_time` is those ticks plus a
boot time that Linux recomputes from the wall clock, so it moves by every clock step (a 7.3 s step made
every component of a stack look like someone else's, and `tacit down` left them all running).

`judge` is pure logic over what was recorded and what is observed now; `observe` and `stamp` read /proc.
Pid files from before this format (pid + `create_time` only) are still recognised: a live process whose
command line is the recorded one is ours even when its `create_time` moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import psutil

PROC = Path("/proc")
BOOT_ID = PROC / "sys" / "kernel" / "random" / "boot_id"
# How far a `create_time` may drift between two reads of the same process (float rounding of the
# ticks-to-seconds sum), for pid files and systems without start ticks.
CREATE_TIME_TOLERANCE_S = 1.0
FORMAT = 2  # pid file format: 2 adds boot_id and start_ticks; 1 (no "format" key) had create_time only


@dataclass(frozen=True)
class ProcessStamp:
    """What identifies one process: recorded in its pid file at start, observed again later."""

    pid: int
    argv: tuple[str, ...]  # recorded: the argv it was started with; observed: its command line now
    boot_id: str | None  # None where the kernel does not say (not Linux)
    start_ticks: int | None  # clock ticks since boot at its start; None where /proc has no stat
    create_time: float | None  # wall-clock start (psutil); moves with clock steps, kept for old files

    def to_record(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "pid": self.pid,
            "boot_id": self.boot_id,
            "start_ticks": self.start_ticks,
            "create_time": self.create_time,  # an older tacit reading this file still finds its key
            "argv": list(self.argv),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ProcessStamp:
        """Read a pid file's JSON (either format); ValueError/KeyError/TypeError when it is not one."""
        argv = record.get("argv") or ()
        if not isinstance(argv, list | tuple) or not all(isinstance(arg, str) for arg in argv):
            raise TypeError("argv is not a list of strings")
        start_ticks = record.get("start_ticks")
        create_time = record.get("create_time")
        if start_ticks is None and create_time is None:
            raise KeyError("neither start_ticks nor create_time")
        boot_id = record.get("boot_id")
        return cls(
            pid=int(record["pid"]),
            argv=tuple(argv),
            boot_id=str(boot_id) if boot_id is not None else None,
            start_ticks=int(start_ticks) if start_ticks is not None else None,
            create_time=float(create_time) if create_time is not None else None,
        )


class Verdict(Enum):
    OURS = "ours"  # the process we started: status reports it, down stops it, up leaves it running
    GONE = "gone"  # no such process any more, or another program on a recycled pid: the pid file is stale
    NOT_OURS_KEEP = "not-ours-keep"  # runs our command line, but is provably not the process we started:
    # neither trusted nor stopped, and its pid file is kept (never delete the file of a live process of ours)


def command_is_ours(recorded: tuple[str, ...], cmdline: tuple[str, ...]) -> bool:
    """Whether a command line is the recorded argv, allowing for what the kernel and programs do to it:
    a script run through its shebang gains the interpreter in front, and a program that sets its process
    title (Redis: `redis-server 127.0.0.1:6390`) keeps only its executable as the first word. That last
    allowance is never made for a Python interpreter: every other program of the same venv starts so."""
    if not recorded or not cmdline:
        return False
    if cmdline == recorded or cmdline[-len(recorded) :] == recorded:
        return True
    retitled = " ".join(cmdline).split()
    return bool(retitled) and retitled[0] == recorded[0] and not Path(recorded[0]).name.startswith("python")


def judge(recorded: ProcessStamp, observed: ProcessStamp | None) -> Verdict:
    """Is the live process `observed` (None: no such pid, or a zombie) the one `recorded` in a pid file?

    Start ticks on the same boot decide exactly: a recycled pid starts at other ticks, a clock step moves
    none. Without them (a pid file from before, or no /proc) a `create_time` within the tolerance or our
    own command line recognises it: the migration path for pid files written before a clock step."""
    if observed is None:
        return Verdict.GONE
    ours_by_command = command_is_ours(recorded.argv, observed.argv)
    comparable = (
        recorded.start_ticks is not None
        and observed.start_ticks is not None
        and recorded.boot_id is not None
        and observed.boot_id is not None
    )
    if comparable:
        if recorded.boot_id == observed.boot_id and recorded.start_ticks == observed.start_ticks:
            return Verdict.OURS
        return Verdict.NOT_OURS_KEEP if ours_by_command else Verdict.GONE
    same_time = (
        recorded.create_time is not None
        and observed.create_time is not None
        and abs(recorded.create_time - observed.create_time) < CREATE_TIME_TOLERANCE_S
    )
    return Verdict.OURS if same_time or ours_by_command else Verdict.GONE


def read_boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def start_ticks_from_stat(text: str) -> int | None:
    """Field 22 (starttime) of a /proc/<pid>/stat line. The command name (field 2) is in parentheses and
    may itself hold spaces and parentheses, so fields are counted after its last ')'."""
    after_name = text[text.rfind(")") + 1 :].split()
    try:
        return int(after_name[22 - 3])  # after_name starts at field 3 (state)
    except (IndexError, ValueError):
        return None


def read_start_ticks(pid: int) -> int | None:
    try:
        return start_ticks_from_stat((PROC / str(pid) / "stat").read_text())
    except OSError:
        return None


def observe(pid: int) -> ProcessStamp | None:
    """The process now running under `pid`, or None when there is none (or only its zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = tuple(process.cmdline())
        create_time = process.create_time()
    except psutil.Error:
        return None
    return ProcessStamp(pid, cmdline, read_boot_id(), read_start_ticks(pid), create_time)


def stamp(pid: int, argv: list[str]) -> ProcessStamp:
    """The stamp to record for a process just started with `argv` (its pid file's content)."""
    try:
        create_time: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        create_time = None
    return ProcessStamp(pid, tuple(argv), read_boot_id(), read_start_ticks(pid), create_time)

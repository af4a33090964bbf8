"""Audit checkpoints: the trail's head, signed with the audit key, kept outside the database.

A checkpoint pins (seq, hash) at a moment. Later, `ledger.audit.verify(against=...)` checks that the
event at that seq still has that hash and that the trail still reaches it, which catches what no check
inside the database can: a rewrite of the whole chain, or a truncated tail with the head row moved back.
The signature (HMAC-SHA256 with the audit key) makes a forged or edited checkpoint an error.

The file form is JSON lines, one checkpoint per line, appended (0600, fsynced, never through a symbolic
link); by default `audit-checkpoints.jsonl` under TACIT_HOME. A copy under TACIT_HOME protects against a
writer of the database only: whoever can also read the secrets can sign a checkpoint of a forged trail.
Hand each checkpoint to something this host does not control (`--out -` to a pipe, or a write-once share).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from pipelines.private_output import open_private

from ..errors import LedgerError
from .chain import canonical_json

CHECKPOINT_FILE_NAME = "audit-checkpoints.jsonl"
# what is signed; `signature` is added beside them
SIGNED_FIELDS = ("seq", "hash", "at", "keyed_from", "ledger", "key_id")
_LABEL = b"tacit audit checkpoint\n"  # keeps a checkpoint signature apart from an event HMAC


class CheckpointFileError(LedgerError):
    """The checkpoint file is missing, empty or garbled; the message names the file and the line."""


def sign_checkpoint(head: dict[str, Any], key: bytes) -> dict[str, Any]:
    """`head` (the SIGNED_FIELDS) plus its signature."""
    body = {name: head[name] for name in SIGNED_FIELDS}
    return {**body, "signature": _signature(body, key)}


def checkpoint_problem(checkpoint: object, key: bytes | None) -> str | None:
    """None when `checkpoint` is well formed and signed with `key`; otherwise what is wrong."""
    if not isinstance(checkpoint, dict):
        return f"the checkpoint is not a JSON object (got {type(checkpoint).__name__})"
    missing = [name for name in (*SIGNED_FIELDS, "signature") if name not in checkpoint]
    if missing:
        return f"the checkpoint lacks {', '.join(missing)}: it is not one `tacit audit checkpoint` wrote"
    seq, digest, keyed_from = checkpoint["seq"], checkpoint["hash"], checkpoint["keyed_from"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return f"the checkpoint's seq must be a whole number >= 0, got {seq!r}"
    if not isinstance(digest, str) or len(digest) != 64:
        return f"the checkpoint's hash must be 64 hex characters, got {digest!r}"
    if keyed_from is not None and (not isinstance(keyed_from, int) or isinstance(keyed_from, bool)):
        return f"the checkpoint's keyed_from must be a seq or null, got {keyed_from!r}"
    if key is None:
        return "cannot check the checkpoint's signature: no audit key was given (secrets file, `audit_key`)"
    body = {name: checkpoint[name] for name in SIGNED_FIELDS}
    signature = checkpoint["signature"]
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(body, key)):
        return (
            f"the checkpoint of seq {seq} taken at {checkpoint['at']} has a bad signature: it was forged or "
            "edited, or signed with another audit key"
        )
    return None


def _signature(body: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _LABEL + canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- the file


def default_checkpoint_file(home: Path) -> Path:
    """Where `tacit audit checkpoint` appends by default: `<TACIT_HOME>/audit-checkpoints.jsonl`."""
    return home / CHECKPOINT_FILE_NAME


def checkpoint_line(checkpoint: dict[str, Any]) -> str:
    """One checkpoint as the file holds it: canonical JSON and a newline."""
    return canonical_json(checkpoint) + "\n"


def append_checkpoint(path: Path, checkpoint: dict[str, Any]) -> Path:
    """Append one checkpoint as one line (the file 0600, its folder created 0700; a symbolic link at
    `path` is refused: pipelines/private_output.py); fsynced, so a checkpoint reported written survives a
    power cut. Returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = open_private(path, append=True)
    try:
        os.write(fd, checkpoint_line(checkpoint).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """Every checkpoint in the file, oldest first. Raises CheckpointFileError for a missing or empty
    file, or a line that is not a JSON object (the signature is checked by verify, not here)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointFileError(
            f"no checkpoint file at {path}: run `tacit audit checkpoint` first, "
            "or name the file with --against"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointFileError(f"cannot read the checkpoint file {path} ({type(exc).__name__})") from None
    checkpoints = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            checkpoint = json.loads(line)
        except ValueError as exc:
            raise CheckpointFileError(
                f"line {number} of {path} is not a checkpoint (not JSON: {exc.msg}); a torn last line is "
                "a write cut short: remove it and take a new checkpoint"
            ) from None
        if not isinstance(checkpoint, dict):
            raise CheckpointFileError(f"line {number} of {path} is not a checkpoint (not a JSON object)")
        checkpoints.append(checkpoint)
    if not checkpoints:
        raise CheckpointFileError(
            f"the checkpoint file {path} holds no checkpoint: run `tacit audit checkpoint`"
        )
    return checkpoints


def latest_checkpoint(path: Path) -> dict[str, Any]:
    """The last checkpoint in the file: the one that pins the most of the trail."""
    return read_checkpoints(path)[-1]

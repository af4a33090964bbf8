"""The audit trail, in one room: the hash chain (chain.py), where keying began (keying.py), the state check
(state_check.py), signed checkpoints (checkpoints.py), and the trail inside a transaction (trail.py:
`tx.audit`, an event appended in the same transaction as the change it records)."""

from .chain import (
    GENESIS_HASH,
    canonical_json,
    event_hash,
    key_bytes,
    key_id,
    normalize_payload,
    verify_chain,
)
from .keying import KeyingRecord
from .trail import AuditKeys, AuditTrail

__all__ = [
    "GENESIS_HASH",
    "AuditKeys",
    "AuditTrail",
    "KeyingRecord",
    "canonical_json",
    "event_hash",
    "key_bytes",
    "key_id",
    "normalize_payload",
    "verify_chain",
]

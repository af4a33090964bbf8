"""The ledger opened with the stack's audit key, told where keying began, and that start kept with the
secrets the first time it is known.

The start lives in the secrets file (`audit_keying`), not in the database it protects: someone who can
write the database but has not the key can delete the database's marker, but not this record, so a rewrite
of the chain as plain SHA-256 fails verify instead of being re-keyed after the forged events.
"""

from __future__ import annotations

import logging

from pipelines.config import TacitSettings
from pipelines.ledger import Ledger
from pipelines.ledger.audit.keying import KeyingRecord
from pipelines.stack.secrets_store import AuditKeying, read_secrets, record_audit_keying

log = logging.getLogger(__name__)


def open_ledger(settings: TacitSettings) -> Ledger:
    """The home's ledger; keyed when the secrets hold an audit key (no `tacit up` yet: unkeyed)."""
    found = read_secrets(settings.secrets_file)
    if found is None or not found.audit_key:
        return Ledger(settings.ledger_url, settings.ledger)
    ledger = Ledger(
        settings.ledger_url,
        settings.ledger,
        audit_key=found.audit_key,
        audit_keying=to_record(found.audit_keying),
    )
    keep_start(settings, found.audit_keying, ledger)
    return ledger


def keep_start(settings: TacitSettings, recorded: AuditKeying | None, ledger: Ledger) -> None:
    """Write where the ledger's keying began into the secrets when they do not hold it yet."""
    started = ledger.audit_keying
    if started is None or (recorded is not None and recorded.keyed_from is not None):
        return
    if record_audit_keying(settings.secrets_file, from_record(started)):
        log.info("the audit trail's keying start (seq %d) is kept with the secrets", started.keyed_from)


def to_record(keying: AuditKeying | None) -> KeyingRecord | None:
    if keying is None:
        return None
    return KeyingRecord(keying.key_id, keying.keyed_from, keying.prev_hash)


def from_record(record: KeyingRecord) -> AuditKeying:
    return AuditKeying(key_id=record.key_id, keyed_from=record.keyed_from, prev_hash=record.prev_hash)

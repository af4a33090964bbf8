"""The export as one call: select the rows, pseudonymize the annotators, write the folder and its card.
`tacit export` (pipelines/export/cli.py) calls it; tests call it on a ledger of their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipelines.export.card import ExportProvenance, render_card
from pipelines.export.pseudonyms import Pseudonyms
from pipelines.export.tables import WHATS, ExportError, ExportFilters, select
from pipelines.export.writers import FORMATS, check_target, write_folder
from pipelines.ledger import Ledger


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    what: str
    format: str
    items: int


def tacit_version() -> str:
    try:
        return version("tacit")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def export(
    ledger: Ledger,
    what: str,
    format: str,
    out: Path,
    filters: ExportFilters,
    pseudonym_key: str | bytes,
    *,
    force: bool = False,
    protected: list[Path] | None = None,
    home: Path | None = None,
) -> ExportReport:
    """Select, pseudonymize and write; ExportError (one line, the fix in it) for anything the caller asked
    that cannot be done. Nothing is written before the selection is known to be non-empty. `home` (tacit's
    home) never takes an export; `protected` folders are never deleted by --force."""
    if what not in WHATS:
        raise ExportError(f"cannot export {what!r}: choose one of {', '.join(WHATS)}")
    if format not in FORMATS:
        raise ExportError(f"unknown --format {format!r}: choose one of {', '.join(FORMATS)}")
    check_target(out, force, protected or [], home)
    selected = select(ledger, what, filters, Pseudonyms(pseudonym_key))
    exported_at = datetime.now(UTC)

    def card(data_files: list[str]) -> str:
        provenance = ExportProvenance(tacit_version(), ledger.url, exported_at, format, filters, data_files)
        return render_card(selected, provenance)

    folder = write_folder(selected, format, out, card, force)
    return ExportReport(folder, what, format, len(selected.rows))

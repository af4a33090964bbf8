"""The dataset card (README.md) every `tacit export` folder carries: where the data came from, what was
kept, how many items of each task, who answered (as pseudonyms), how each item was decided, the columns,
and how to load it or publish it with `push_to_hub` (tacit itself uploads nothing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from statistics import mean
from typing import Any

import yaml

from pipelines.export.tables import ExportFilters, ExportTable

TITLES = {"pairs": "preference pairs", "examples": "few-shot examples", "feedback": "annotator feedback"}
TAGS = {
    "pairs": ["dpo", "preference", "human-feedback", "tacit"],
    "examples": ["sft", "few-shot", "human-feedback", "tacit"],
    "feedback": ["annotations", "human-feedback", "tacit"],
}
DECIDED_BY = {
    "single": "one reviewer's answer decided (a quorum of one)",
    "unanimous": "every reviewer of the quorum gave the same answer",
    "adjudicated": "the reviewers disagreed; an adjudicator's answer decided",
    None: "not recorded (the item predates quorum reviews, or its ticket is not decided yet)",
}
COLUMNS = {
    "id": "stable ledger id (the same item keeps it across exports)",
    "task": "the application's task name",
    "prompt": "TRL conversational prompt: [{role: user, content}]",
    "chosen": "the preferred reply: [{role: assistant, content}]",
    "rejected": "the reply the person rejected: [{role: assistant, content}]",
    "kind": "correction, accepted, lesson, resolution or knowledge",
    "domain": "the application's domain label, when it sent one",
    "input": "what the example answers",
    "output": "the answer a person stands behind",
    "messages": "input and output as a conversation (user, assistant), for SFT",
    "reason": "the person's note on why",
    "quality": "quality score 0..1, when known",
    "model_version": "the model that drafted what the person judged",
    "annotator": "pseudonym of the person whose answer the item comes from",
    "reviewers": "pseudonyms of the quorum's reviewers (one for a single review)",
    "adjudicator": "pseudonym of the adjudicator, when one decided",
    "reviewer_count": "how many reviewers answered",
    "decided_by": "single, unanimous or adjudicated (see below)",
    "agreement": "share of reviewer pairs that agreed (empty with one reviewer)",
    "source_dataset": "the Argilla dataset the answer was given in",
    "record_id": "the Argilla record id",
    "ticket_id": "the tacit ticket the answer decided, if any",
    "ticket_kind": "review, approval, escalation or preference",
    "status": "the response's status in Argilla (submitted, draft, discarded)",
    "answers": "the response's answers as JSON text (each dataset asks its own questions)",
    "decided_ticket": "true when this response is the one that decided its ticket",
    "created_at": "when the ledger recorded the item (UTC, ISO 8601)",
    "updated_at": "when the item last changed (UTC, ISO 8601)",
    "submitted_at": "when the annotator answered (UTC, ISO 8601)",
    "ingested_at": "when tacit recorded the answer (UTC, ISO 8601)",
}


@dataclass(frozen=True)
class ExportProvenance:
    tacit_version: str
    ledger: str  # the ledger's URL, password hidden
    exported_at: datetime
    format: str
    filters: ExportFilters
    data_files: list[str]  # relative to the folder; empty for `hf` (a save_to_disk folder)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _front_matter(selected: ExportTable, provenance: ExportProvenance) -> str:
    count = len(selected.rows)
    size = "n<1K" if count < 1_000 else "1K<n<10K" if count < 10_000 else "10K<n<100K" if count < 100_000 else "n>100K"
    meta: dict[str, Any] = {
        "pretty_name": f"tacit {TITLES[selected.what]}",
        "tags": TAGS[selected.what],
        "size_categories": [size],
    }
    # no `configs`: load_dataset finds the files of the folder by itself, and the card stays true on the Hub
    # whichever way the data goes up (push_to_hub writes data/*.parquet, upload_folder the files as they are)
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _loading(selected: ExportTable, provenance: ExportProvenance) -> str:
    if provenance.format == "hf":
        load = 'from datasets import load_from_disk\n\ndataset = load_from_disk("THIS_FOLDER")["train"]'
    else:
        builder = "json" if provenance.format == "jsonl" else "parquet"
        load = (
            "from datasets import load_dataset\n\n"
            f'dataset = load_dataset("{builder}", data_files="THIS_FOLDER/{provenance.data_files[0]}")["train"]'
        )
    trl = ""
    if selected.what == "pairs":
        trl = (
            "\n`prompt`, `chosen` and `rejected` are TRL's conversational preference format: pass the dataset "
            "to `trl.DPOTrainer(train_dataset=dataset, ...)` as is (or `dataset.select_columns(['prompt', "
            "'chosen', 'rejected'])`).\n"
        )
    return (
        "## Loading\n\n```python\n" + load + "\n```\n" + trl + "\n"
        "## Publishing\n\n"
        "tacit uploads nothing. Read the texts first (they are exported as people wrote them and may hold "
        "personal data), then, logged in with `huggingface-cli login`, with `dataset` loaded as above:\n\n"
        "```python\nfrom huggingface_hub import DatasetCard\n\n"
        'dataset.push_to_hub("your-org/your-dataset", private=True)\n'
        "# this card, in place of the one push_to_hub generates\n"
        'DatasetCard.load("THIS_FOLDER/README.md").push_to_hub("your-org/your-dataset")\n```\n'
    )


def render_card(selected: ExportTable, provenance: ExportProvenance) -> str:
    rows = selected.rows
    title = TITLES[selected.what]
    filters = provenance.filters.describe()
    per_task = sorted(Counter(row["task"] for row in rows).items(), key=lambda item: (-item[1], str(item[0])))
    per_basis = Counter(row.get("decided_by") for row in rows)
    agreements = [row["agreement"] for row in rows if row.get("agreement") is not None]
    annotators = Counter(row["annotator"] for row in rows if row.get("annotator"))
    people = set(annotators)
    for row in rows:
        people |= {name for name in row.get("reviewers") or [] if name}
        if row.get("adjudicator"):
            people.add(row["adjudicator"])
    parts = [
        _front_matter(selected, provenance),
        f"# tacit export: {title}\n",
        f"{len(rows)} {title} from a tacit ledger: what domain experts corrected, approved, resolved or "
        "preferred in Argilla, recorded with who answered and how each item was decided.\n",
        "## Provenance\n",
        _table(
            ("", ""),
            [
                ("tacit version", provenance.tacit_version),
                ("ledger", f"`{provenance.ledger}`"),
                ("exported at (UTC)", provenance.exported_at.isoformat(timespec="seconds")),
                ("format", provenance.format),
                ("files", ", ".join(provenance.data_files) or "a `datasets` folder (`save_to_disk`), split `train`"),
                ("filter: task", filters["task"] or "all"),
                ("filter: recorded or changed since", filters["since"] or "any time"),
                ("filter: minimum agreement", filters["min_agreement"] if filters["min_agreement"] is not None else "none"),
            ],
        ),
        "\nWithdrawn items (an answer changed away, or a curator's withdrawal) are not exported.\n",
        "## Counts\n",
        _table(("task", title), per_task),
        "\n## How each item was decided\n",
        _table(
            ("decided_by", "items", "meaning"),
            [(basis or "(not recorded)", count, DECIDED_BY[basis]) for basis, count in per_basis.most_common()],
        ),
        "\n"
        + (
            f"Agreement (share of reviewer pairs that agreed) over the {len(agreements)} items that have one: "
            f"mean {mean(agreements):.2f}, lowest {min(agreements):.2f}.\n"
            if agreements
            else "No item has an agreement figure (each was decided by one reviewer).\n"
        ),
        "## Annotators\n",
        f"{len(people)} people answered. Each appears as a pseudonym: a keyed hash (HMAC-SHA256 with this "
        "tacit stack's secret key) of the username, the same in every export from this stack and not "
        "reversible without the key. Real usernames are not in this dataset.\n",
        _table(("pseudonym", "items attributed"), annotators.most_common()),
        "\n## Columns\n",
        _table(("column", "meaning"), [(f"`{name}`", COLUMNS.get(name, "")) for name in selected.features]),
        "\n" + _loading(selected, provenance),
    ]
    return "\n".join(parts)

"""The four Argilla datasets, declared once: fields, questions, guidelines, metadata and a vector.

Each spec reads like the Argilla SDK's own resources (`rg.Settings`), plus the names tacit's code
relies on. `DATASETS[name].settings(dimensions)` builds the `rg.Settings` to create it with.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from annotation.lazy_import import lazy_module

if TYPE_CHECKING:
    import argilla as rg
else:
    # the SDK takes seconds to import; reading the config needs only the question names declared here
    rg = lazy_module("argilla")

PROMPT_VECTOR = "prompt_embedding"

# Shared by every dataset so annotators can filter and sort the same way everywhere.
METADATA: list[Callable[[], rg.MetadataProperty]] = [
    lambda: rg.TermsMetadataProperty(name="task", title="Task"),
    lambda: rg.TermsMetadataProperty(name="domain", title="Domain"),
    lambda: rg.TermsMetadataProperty(name="app", title="Application"),
    lambda: rg.TermsMetadataProperty(name="model_version", title="Model version"),
    lambda: rg.FloatMetadataProperty(name="priority", title="Priority (higher first)"),
]

KNOWLEDGE_QUESTION = "knowledge"


def _knowledge_question() -> rg.TextQuestion:
    return rg.TextQuestion(
        name=KNOWLEDGE_QUESTION,
        title="Know-how worth keeping (optional)",
        description=(
            "Anything you know from experience that is written down nowhere and that the model should "
            "know next time, e.g. 'line 3 jams when humidity is high, dry the resin first'."
        ),
        required=False,
        use_markdown=False,
    )


QUORUM_SUFFIX = "-quorum-"  # `approvals-quorum-2`: the same questions, shown until 2 reviewers submitted
ADJUDICATION_SUFFIX = "-adjudication"  # `approvals-adjudication`: the adjudicator's queue
REVIEWS_FIELD = "reviews"  # the adjudication record's field with every reviewer's answer


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    guidelines: str
    fields: Callable[[], list[rg.TextField]]
    questions: Callable[[], list[rg.QuestionType]]
    question_names: tuple[str, ...] = ()  # the questions' names, known without building SDK objects
    base: str | None = None  # the dataset whose questions this one asks (None: it is a base dataset)
    min_submitted: int = 1  # Argilla's task distribution: shown to annotators until this many submitted
    adjudication: bool = False

    @property
    def kind(self) -> str:
        """The base dataset (corrections, approvals, escalations, preferences) this one belongs to."""
        return self.base or self.name

    def settings(self, dimensions: int) -> rg.Settings:
        return rg.Settings(
            guidelines=self.guidelines,
            fields=self.fields(),
            questions=[*self.questions(), _knowledge_question()],
            metadata=[make() for make in METADATA],
            vectors=[rg.VectorField(name=PROMPT_VECTOR, dimensions=dimensions, title="Similar prompts")],
            allow_extra_metadata=False,
            distribution=rg.TaskDistribution(min_submitted=self.min_submitted),
        )

    def with_quorum(self, reviewers: int) -> DatasetSpec:
        """The same dataset for records that need `reviewers` distinct submissions (Argilla's
        `min_submitted` is per dataset, so there is one dataset per quorum level)."""
        if reviewers <= 1:
            return self
        return replace(
            self,
            name=f"{self.name}{QUORUM_SUFFIX}{reviewers}",
            base=self.name,
            min_submitted=reviewers,
            guidelines=(
                f"{self.guidelines}\n**Four eyes**: {reviewers} reviewers answer each record independently. "
                "When they disagree, an adjudicator decides.\n"
            ),
        )

    def for_adjudication(self) -> DatasetSpec:
        """The adjudicator's queue (one per base dataset, whatever the quorum): the record as the
        reviewers saw it, plus every reviewer's answer."""
        base = DATASETS.get(self.kind, self)
        fields = base.fields

        def with_reviews() -> list[rg.TextField]:
            shown = rg.TextField(name=REVIEWS_FIELD, title="What each reviewer answered", use_markdown=True)
            return [shown, *fields()]

        return replace(
            base,
            name=f"{base.name}{ADJUDICATION_SUFFIX}",
            base=base.name,
            fields=with_reviews,
            min_submitted=1,
            adjudication=True,
            guidelines=(
                "## Adjudication\n"
                "The reviewers of this record disagreed. Their answers are shown at the top. Answer the "
                "questions as the final word: your answer decides the ticket and is what tacit learns.\n\n"
                f"{base.guidelines}"
            ),
        )


CORRECTIONS = DatasetSpec(
    question_names=("verdict", "corrected", "note"),
    name="corrections",
    guidelines=(
        "## Review and correct\n"
        "An application drafted the answer below. The draft is pre-filled in **Corrected output**.\n\n"
        "1. Read the prompt and the context.\n"
        "2. Choose **accept** if the draft is right as it stands, **edit** if you changed it, "
        "**reject** if it should not be sent at all.\n"
        "3. When you edit, fix the text in place: keep what is right, change only what is wrong "
        "(hedging such as 'possible' vs 'high suspicion, pending confirmation' matters).\n"
        "4. Say briefly **why** in the note: it becomes guidance for the model.\n"
    ),
    fields=lambda: [
        rg.TextField(name="prompt", title="Prompt", use_markdown=True),
        rg.TextField(name="context", title="Context", use_markdown=True, required=False),
        rg.TextField(name="draft", title="Model draft", use_markdown=True),
    ],
    questions=lambda: [
        rg.LabelQuestion(
            name="verdict",
            title="Verdict on the draft",
            labels={"accept": "Accept as is", "edit": "Edit (corrected below)", "reject": "Reject"},
        ),
        rg.TextQuestion(
            name="corrected",
            title="Corrected output",
            description="Pre-filled with the draft: edit it in place.",
            required=True,
        ),
        rg.TextQuestion(name="note", title="Why (optional)", required=False),
    ],
)

APPROVALS = DatasetSpec(
    question_names=("decision", "reason", "modified_action"),
    name="approvals",
    guidelines=(
        "## Approval gate\n"
        "An agent proposes an action and waits for you. Nothing runs until you decide.\n\n"
        "- **approve**: run it as proposed.\n"
        "- **reject**: do not run it. Give the reason, especially what the agent could not know "
        "(a freeze window, a dependency, a customer commitment).\n"
        "- **modify**: run your version instead; write it in *Modified action*.\n"
        "Risk and reversibility are shown with the action: be strictest with irreversible ones.\n"
    ),
    fields=lambda: [
        rg.TextField(name="context", title="Context", use_markdown=True),
        rg.TextField(name="action", title="Proposed action", use_markdown=True),
        rg.TextField(name="risk", title="Risk and reversibility", use_markdown=True),
    ],
    questions=lambda: [
        rg.LabelQuestion(
            name="decision",
            title="Decision",
            labels={"approve": "Approve", "reject": "Reject", "modify": "Modify"},
        ),
        rg.TextQuestion(name="reason", title="Reason", required=False),
        rg.TextQuestion(name="modified_action", title="Modified action (when modifying)", required=False),
    ],
)

ESCALATIONS = DatasetSpec(
    question_names=("resolution", "category"),
    name="escalations",
    guidelines=(
        "## Escalation\n"
        "The application handed this conversation to a person. The rules that fired and a short "
        "summary are shown so you do not start from scratch.\n\n"
        "Write the **resolution** you would give (what to tell the customer and what to do), and "
        "pick a **category**. Your resolution becomes an example for similar cases.\n"
    ),
    fields=lambda: [
        rg.TextField(name="conversation", title="Conversation", use_markdown=True),
        rg.TextField(name="rules_fired", title="Why it was escalated", use_markdown=True),
        rg.TextField(name="summary", title="Context summary", use_markdown=True),
    ],
    questions=lambda: [
        rg.TextQuestion(name="resolution", title="Resolution", required=True),
        rg.LabelQuestion(
            name="category",
            title="Category",
            labels={
                "refund": "Refund / credit",
                "policy_exception": "Policy exception",
                "technical": "Technical fix",
                "compliance": "Compliance / legal",
                "other": "Other",
            },
        ),
    ],
)

PREFERENCES = DatasetSpec(
    question_names=("preference", "rationale"),
    name="preferences",
    guidelines=(
        "## Which answer is better?\n"
        "Read the prompt and both responses. Pick the one you would rather send, **tie** when they "
        "are equally good, **both bad** when neither should be sent. Say briefly why.\n"
    ),
    fields=lambda: [
        rg.TextField(name="prompt", title="Prompt", use_markdown=True),
        rg.TextField(name="response_a", title="Response A", use_markdown=True),
        rg.TextField(name="response_b", title="Response B", use_markdown=True),
    ],
    questions=lambda: [
        rg.LabelQuestion(
            name="preference",
            title="Better response",
            labels={"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"},
        ),
        rg.TextQuestion(name="rationale", title="Why (optional)", required=False),
    ],
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (CORRECTIONS, APPROVALS, ESCALATIONS, PREFERENCES)
}


def all_specs(quorum_levels: Iterable[int] = ()) -> dict[str, DatasetSpec]:
    """The four base datasets, one per configured quorum level above 1, and the adjudication queues
    (only when some quorum is above 1)."""
    levels = sorted({level for level in quorum_levels if level > 1})
    specs = dict(DATASETS)
    for spec in DATASETS.values():
        for level in levels:
            variant = spec.with_quorum(level)
            specs[variant.name] = variant
        if levels:
            queue = spec.for_adjudication()
            specs[queue.name] = queue
    return specs


def spec_for(dataset: str) -> DatasetSpec | None:
    """The spec behind any tacit dataset name (base, `-quorum-N` or `-adjudication`); None if unknown."""
    if dataset in DATASETS:
        return DATASETS[dataset]
    if dataset.endswith(ADJUDICATION_SUFFIX):
        base = DATASETS.get(dataset[: -len(ADJUDICATION_SUFFIX)])
        return None if base is None else base.for_adjudication()
    name, _, level = dataset.rpartition(QUORUM_SUFFIX)
    if name in DATASETS and level.isdigit() and int(level) > 1:
        return DATASETS[name].with_quorum(int(level))
    return None


def base_dataset(dataset: str) -> str:
    """`approvals-quorum-2` and `approvals-adjudication` -> `approvals`; an unknown name stays as it is."""
    spec = spec_for(dataset)
    return dataset if spec is None else spec.kind


def _ensure_workspace(client: rg.Argilla, name: str) -> None:
    # looked up in the list: `client.workspaces(name)` warns "Workspace ... not found" on a new stack
    if not any(found.name == name for found in client.workspaces):
        rg.Workspace(name=name, client=client).create()


def ensure_datasets(
    client: rg.Argilla,
    workspace: str,
    dimensions: int,
    quorum_levels: Iterable[int] = (),
    adjudication_workspace: str | None = None,
) -> dict[str, rg.Dataset]:
    """Create the datasets if missing (see `all_specs`); on existing ones, refresh guidelines and add
    missing metadata properties (Argilla does not allow changing questions once records exist). The
    adjudication queues go to `adjudication_workspace` (created if missing), whose members are the
    adjudicators only: reviewers never see them."""
    result = {}
    specs = all_specs(quorum_levels)
    if adjudication_workspace and any(spec.adjudication for spec in specs.values()):
        _ensure_workspace(client, adjudication_workspace)
    for spec in specs.values():
        home = adjudication_workspace if spec.adjudication and adjudication_workspace else workspace
        with warnings.catch_warnings():  # "not found" is the expected answer on a new stack, not news
            warnings.filterwarnings("ignore", message="Dataset with name .* not found")
            dataset = client.datasets(name=spec.name, workspace=home)
        if dataset is None:
            dataset = rg.Dataset(
                name=spec.name, workspace=home, settings=spec.settings(dimensions), client=client
            )
            dataset.create()
        else:
            changed = False
            if dataset.settings.guidelines != spec.guidelines:
                dataset.settings.guidelines = spec.guidelines
                changed = True
            present = {prop.name for prop in dataset.settings.metadata}
            for make in METADATA:
                prop = make()
                if prop.name not in present:
                    dataset.settings.metadata.add(prop)
                    changed = True
            if changed:
                dataset.update()
        result[spec.name] = dataset
    return result

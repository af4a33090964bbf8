"""An annotator's session in a real browser: Debian chromium (driven by Playwright) signs in to the Argilla
UI as alice, corrects a pre-filled draft in the `corrections` dataset and submits it; the correction must
then come back from the tacit API's example search within seconds (webhook -> ledger -> Chroma)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from bench.loop_ui import AnnotatorSession, chromium_browser, wait_retrievable
from tests.conftest import StackInfo

pytestmark = pytest.mark.stack

RETRIEVABLE_WITHIN_S = 5.0


@contextmanager
def screenshot_on_failure(page: Page, folder: Path, step: str) -> Iterator[None]:
    """Keep what the browser showed when a step failed, and say where it is."""
    try:
        yield
    except BaseException:
        shot = folder / f"failed-{step}.png"
        try:
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot of the failed step {step!r}: {shot}")
        except Exception as exc:  # the page itself may be gone; the original error matters more
            print(f"could not take a screenshot of the failed step {step!r}: {exc}")
        raise


def test_annotator_corrects_draft_in_browser_and_it_becomes_retrievable(
    stack: StackInfo, tmp_path: Path
) -> None:
    tag = f"ui{uuid.uuid4().hex[:10]}"
    prompt = (
        f"Chart summary for case {tag}: 47F, new headache and blurred vision, BP 182/110, "
        "fundoscopy not yet done."
    )
    draft = f"Hypertensive emergency with papilledema ({tag})."
    corrected = (
        f"Severe hypertension with headache and visual symptoms; hypertensive emergency suspected, "
        f"papilledema not assessed yet, fundoscopy pending ({tag})."
    )
    alice = stack.annotators[0]

    with httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
    ) as http:
        ticket = http.post("/v1/reviews", json={"task": "clinical-notes", "prompt": prompt, "draft": draft})
        assert ticket.status_code in (200, 201), ticket.text
        assert ticket.json()["argilla_dataset"] == "corrections"

        with chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            ui = AnnotatorSession(page, stack.argilla_url)
            with screenshot_on_failure(page, tmp_path, "sign-in"):
                ui.sign_in(alice)
            with screenshot_on_failure(page, tmp_path, "open-dataset"):
                ui.open_dataset("corrections")
            with screenshot_on_failure(page, tmp_path, "find-record"):
                ui.find_record(tag)
            with screenshot_on_failure(page, tmp_path, "correct-and-submit"):
                clicked = ui.correct_and_submit(draft, corrected, verdict_label="Edit")
            seen = wait_retrievable(http, prompt, corrected, timeout_s=RETRIEVABLE_WITHIN_S)
            if seen is None:
                with screenshot_on_failure(page, tmp_path, "after-submit"):
                    # Tell a slow loop from a lost submit: wait longer before failing, and say which.
                    late = wait_retrievable(http, prompt, corrected, timeout_s=60)
                    later = f"after {late - clicked:.1f} s" if late else "not even after 60 s more"
                    pytest.fail(
                        f"the correction was not returned by /v1/examples/search within "
                        f"{RETRIEVABLE_WITHIN_S} s of the submit click; it was {later}"
                    )
            with screenshot_on_failure(page, tmp_path, "record-leaves-queue"):
                ui.wait_submitted(tag)

        hits = http.post("/v1/examples/search", json={"query": prompt, "k": 3}).json()["examples"]
    example = next(hit["example"] for hit in hits if hit["example"]["output"] == corrected)
    assert example["input"] == prompt
    assert example["kind"] == "correction"
    assert example["task"] == "clinical-notes"
    assert example["provenance"]["dataset"] == "corrections"
    assert example["provenance"]["user"] == alice.username

"""Loop closure through the annotator's browser: from the click on Argilla's Submit to the correction
being returned by the tacit API's `POST /v1/examples/search`.

    ui_p50_s, ui_p95_s   seconds from the submit click to retrievable, over `n` submissions made by one
                         annotator in one browser session (Debian chromium driven by Playwright)
    n, missed            submissions made, and those not retrievable within `timeout_s`
    submissions          each one's record, click, submit request and seen times (time.time()), for the
                         stage breakdown (bench/loop_stages.py)

Needs /usr/bin/chromium (never downloaded: Playwright only drives it). `run` takes the stack to measure;
`tacit bench loop --json` calls it on its throwaway stack, and so does `python bench/loop_ui.py [N]` (from
the project root) on one of its own: the user's stack never sees the benchmark's tickets.

The page steps (`AnnotatorSession`) are shared with tests/integration/test_browser_ui.py.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from playwright.sync_api import Browser, Locator, Page, Request, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run directly: `python bench/loop_ui.py`
from pipelines.errors import BadInput, MissingPrerequisite  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The first page load compiles Argilla's Nuxt bundle on a busy 2-core machine: be generous per step.
STEP_TIMEOUT_MS = 60_000


class ArgillaLogin(Protocol):
    """Any object with an Argilla username, password and API key (tests' `Login`, the secrets store's)."""

    username: str
    password: str
    api_key: str


def require_chromium(executable: Path | None = None) -> None:
    """Raise MissingPrerequisite naming the fix (`make browser`) when the browser is not installed."""
    executable = executable or CHROMIUM
    if not executable.exists():
        raise MissingPrerequisite(
            f"{executable} not found: run `make browser` (Debian's chromium; Playwright never downloads one here)"
        )


@contextmanager
def chromium_browser(executable: Path | None = None) -> Iterator[Browser]:
    """Headless Debian chromium; fails with the fix when it is missing instead of downloading a browser."""
    require_chromium(executable)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable or CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class AnnotatorSession:
    """What an annotator does in the Argilla 2.8 UI, expressed through roles, labels and visible text."""

    page: Page
    argilla_url: str
    login: ArgillaLogin | None = None  # who signed in: open_dataset looks up their datasets with it

    def sign_in(self, login: ArgillaLogin) -> None:
        self.login = login
        self.page.set_default_timeout(STEP_TIMEOUT_MS)
        self.page.goto(f"{self.argilla_url.rstrip('/')}/sign-in")
        self.page.get_by_label("Username").fill(login.username)
        self.page.get_by_label("Password").fill(login.password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(lambda url: "/sign-in" not in url)

    def open_dataset(self, name: str) -> None:
        # The home page lists a card per dataset, but with the quorum datasets the card sought can be out
        # of the rendered list: go to the dataset's annotation page by its id, as a bookmark would.
        assert self.login is not None, "sign_in first"
        base = self.argilla_url.rstrip("/")
        mine = httpx.get(
            f"{base}/api/v1/me/datasets", headers={"X-Argilla-Api-Key": self.login.api_key}, timeout=30
        )
        mine.raise_for_status()
        dataset_id = next(item["id"] for item in mine.json()["items"] if item["name"] == name)
        self.page.goto(f"{base}/dataset/{dataset_id}/annotation-mode")
        self.page.wait_for_url("**/annotation-mode**")
        self._questions().wait_for()

    def find_record(self, distinctive_text: str) -> None:
        """Narrow the pending queue to the record containing `distinctive_text` with the UI's search box."""
        # The search input carries role=search and this aria-label in Argilla's SearchBarBase.
        search = self.page.get_by_role("search", name="Introduce a query")
        if not search.is_visible():
            # Collapsed behind a magnifier icon until a query is set; the icon is a button named "Search".
            self.page.get_by_role("button", name="Search", exact=True).click()
        search.fill(distinctive_text)
        search.press("Enter")
        # The focus view shows one record: wait until it is the one we searched for.
        self._record_view().get_by_text(distinctive_text).first.wait_for()

    def correct_and_submit(self, current_text: str, corrected: str, verdict_label: str = "Edit") -> float:
        """Choose the verdict, replace the pre-filled corrected text, click Submit; returns the click's
        `time.perf_counter()` so callers can time what follows it."""
        questions = self._questions()
        # The corrected-output editor is the only textbox pre-filled (suggestion) with the current draft;
        # Argilla wraps the editable paragraph in a span with role=textbox, so fill the paragraph inside.
        self._replace_text(questions, current_text, corrected)
        # Label options render as buttons named "<option text>"; match the option's word, not its hint.
        verdict = questions.get_by_role("button", name=re.compile(rf"^\s*{re.escape(verdict_label)}\b"))
        verdict.click()
        submit = questions.get_by_role("button", name=re.compile(r"Submit"))
        submit.wait_for()
        # On a slow machine a click can land before the form is interactive and be lost, leaving Submit
        # disabled; clicking the option again selects it (a second click on a selected option would
        # clear it, so only re-click while Submit stays disabled).
        for _ in range(5):
            try:
                self._wait_enabled(submit, timeout_s=3)
                break
            except TimeoutError:
                verdict.click()
        self._wait_enabled(submit)
        self._replace_text(questions, current_text, corrected)  # a late re-render can restore the suggestion
        clicked = time.perf_counter()
        submit.click()
        return clicked

    @staticmethod
    def _replace_text(questions: Locator, current_text: str, corrected: str) -> None:
        """Fill the editor pre-filled with `current_text` until it holds `corrected`: on a loaded machine the
        form can re-render from the record's suggestion after a fill, and a submit would then send the draft
        (seen in a CI run: the example stored the draft as the correction)."""
        typed = questions.get_by_role("textbox").filter(has_text=corrected)
        for _ in range(5):
            if typed.count():
                return
            draft = questions.get_by_role("textbox").filter(has_text=current_text)
            draft.locator("[contenteditable=true]").fill(corrected)
            try:
                typed.first.wait_for(timeout=2000)
            except PlaywrightTimeout:
                continue
        typed.first.wait_for(timeout=STEP_TIMEOUT_MS)

    def wait_submitted(self, distinctive_text: str) -> None:
        """The UI moves on once the response is stored: the searched record leaves the pending queue (the
        question form keeps showing the last answer, so look only at the record view)."""
        self._record_view().get_by_text(distinctive_text).first.wait_for(state="hidden")

    def _record_view(self) -> Locator:
        return self.page.get_by_role("region", name="Focus Annotation View")

    def _questions(self) -> Locator:
        return self.page.get_by_role("form", name="Annotation Questions")

    @staticmethod
    def _wait_enabled(button: Locator, timeout_s: float = STEP_TIMEOUT_MS / 1000) -> None:
        deadline = time.monotonic() + timeout_s
        while button.is_disabled():
            if time.monotonic() > deadline:
                raise TimeoutError("the Submit button stayed disabled: a required question is unanswered")
            time.sleep(0.05)


def wait_retrievable(
    http: httpx.Client, query: str, output: str, timeout_s: float, poll_s: float = 0.05
) -> float | None:
    """Poll `/v1/examples/search` until an example's output equals `output`; returns the
    `time.perf_counter()` at which it was seen, or None after `timeout_s`."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        response = http.post("/v1/examples/search", json={"query": query, "k": 3})
        response.raise_for_status()
        if any(hit["example"]["output"] == output for hit in response.json()["examples"]):
            return time.perf_counter()
        time.sleep(poll_s)
    return None


# The UI's submit: a new response (POST records/{id}/responses) or a changed one (PUT responses/{id})
SUBMIT_REQUEST = re.compile(r"/api/v1/(records/[^/]+/responses|responses/[^/]+)$")


def _request_started(request: Request) -> float | None:
    """When the browser sent `request` (time.time()), from Playwright's resource timing."""
    timing = request.timing
    if not timing or timing.get("startTime", -1) < 0:
        return None
    offset_ms = max(timing.get("requestStart", -1), 0)  # -1: not known; startTime alone then
    return (timing["startTime"] + offset_ms) / 1000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with 20 samples p95 is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run(
    api_url: str,
    api_key: str,
    argilla_url: str,
    login: ArgillaLogin,
    n: int = 20,
    timeout_s: float = 30.0,
    warmup: int = 0,
) -> dict[str, Any]:
    """`n` timed submissions, after `warmup` untimed ones (a just-restarted stack's first answers pay its
    caches and imports: `tacit bench loop --set compare=true` restarts it for every block)."""
    if n < 1:
        raise BadInput(f"n must be at least 1, got {n}")
    run_id = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    submissions: list[dict[str, Any]] = []
    to_wall = time.time() - time.perf_counter()  # perf_counter -> time.time(), as the stack's stage marks
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as http:
        cases = []
        ticket_ids = []
        for i in range(warmup + n):
            tag = f"uibench{run_id}n{i}"
            prompt = f"Line 3 resin pellets jam the hopper again, case {tag}: what is the root cause?"
            draft = f"Hopper motor failure ({tag})."
            corrected = f"Resin absorbed moisture: dry it at 80 C for 4 h before loading ({tag})."
            response = http.post(
                "/v1/reviews", json={"task": f"bench-loop-ui-{run_id}", "prompt": prompt, "draft": draft}
            )
            response.raise_for_status()
            ticket_ids.append(response.json()["id"])
            cases.append((tag, prompt, draft, corrected))
        with chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            sent: list[Request] = []
            page.on(
                "request",
                lambda request: sent.append(request) if SUBMIT_REQUEST.search(request.url) else None,
            )
            ui = AnnotatorSession(page, argilla_url)
            ui.sign_in(login)
            ui.open_dataset("corrections")
            for i, (tag, prompt, draft, corrected) in enumerate(cases):
                ui.find_record(tag)
                sent.clear()
                clicked = ui.correct_and_submit(draft, corrected)
                seen = wait_retrievable(http, prompt, corrected, timeout_s)
                shown = f"{seen - clicked:.3f}s" if seen is not None else "missed"
                if i < warmup:
                    print(f"warm-up {i + 1}/{warmup}: {shown}", file=sys.stderr)
                    ui.wait_submitted(tag)
                    continue
                if seen is not None:
                    latencies.append(seen - clicked)
                print(f"{i + 1 - warmup}/{n}: {shown}", file=sys.stderr)
                ui.wait_submitted(tag)
                submissions.append(
                    {
                        "ticket_id": ticket_ids[i],
                        "click": clicked + to_wall,
                        "seen": seen + to_wall if seen is not None else None,
                        "request": _request_started(sent[0]) if sent else None,
                    }
                )
        for submission in submissions:  # the record each ticket went to (known once delivered to Argilla)
            ticket = http.get(f"/v1/tickets/{submission.pop('ticket_id')}")
            ticket.raise_for_status()
            submission["record_id"] = ticket.json()["argilla_record_id"]
    return {
        "n": n,
        "missed": n - len(latencies),
        "ui_p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "ui_p95_s": round(percentile(latencies, 0.95), 4) if latencies else None,
        "submissions": submissions,
    }


def main() -> None:
    from bench.throwaway_stack import throwaway_stack
    from pipelines.stack.secrets_store import read_secrets

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    require_chromium()  # before the stack's start
    with throwaway_stack(prefix="tacit-bench-loop-ui-") as stack:
        settings = stack.settings()
        secrets = read_secrets(settings.secrets_file)
        assert secrets is not None, "`tacit up` writes the secrets"
        figures = run(
            settings.api_url, secrets.api_key, settings.argilla_url, secrets.argilla.annotators[0], n=n
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

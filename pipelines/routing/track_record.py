"""A fitted `track_record` rule: per task, the acceptance model and its calibrated threshold, as a versioned file.

`fit_rule` is pure: reviewed items in (their signals and whether the draft was accepted as-is), a
`TrackRecordFit` out. Each task's items are split by a hash of their id (the same split on every refit of
the same data) into a training part, which fits the model, and a calibration part, on which
`calibration.calibrate` picks the threshold. A task with fewer than `min_decisions` reviewed items, or
whose calibration part supports no threshold, stays off: its rule keeps sending drafts to review.

`FitFiles` keeps every fit under the home as `<dir>/<rule id>/<version>.json` and names the current one in
`<dir>/<rule id>/current`; a version is never rewritten, so the version an audit entry names can be
reloaded to reproduce the decision.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipelines.routing.acceptance import FEATURES, AcceptanceModel, Neighbour, fit_acceptance, signals
from pipelines.routing.calibration import Calibration, calibrate
from pipelines.routing.models import TrackRecordParams, TrackRecordRule

FORMAT = 1
_VERSION = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$")


@dataclass(frozen=True)
class ReviewedItem:
    """One decided review: its id (for the split), its signals at routing time, and the verdict."""

    id: str
    features: tuple[float, ...]
    accepted: bool


@dataclass(frozen=True)
class TaskFit:
    """One task's state: on (a model and a threshold) or off, and why."""

    task: str
    decisions: int
    accepted: int
    model: AcceptanceModel | None
    calibration: Calibration | None
    reason: str

    @property
    def active(self) -> bool:
        return (
            self.model is not None and self.calibration is not None and self.calibration.threshold is not None
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "decisions": self.decisions,
            "accepted": self.accepted,
            "active": self.active,
            "reason": self.reason,
            "model": None if self.model is None else self.model.to_dict(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskFit:
        return cls(
            task=data["task"],
            decisions=int(data["decisions"]),
            accepted=int(data["accepted"]),
            model=None if data.get("model") is None else AcceptanceModel.from_dict(data["model"]),
            calibration=None
            if data.get("calibration") is None
            else Calibration.from_dict(data["calibration"]),
            reason=data["reason"],
        )


@dataclass(frozen=True)
class TrackRecordFit:
    """Everything one rule decides with; `version` names this content (time + hash)."""

    rule_id: str
    params: dict[str, Any]  # the rule's params at fit time: a fit made for other params is not used
    fitted_at: str
    tasks: dict[str, TaskFit] = field(default_factory=dict)
    version: str = ""

    def content(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "rule_id": self.rule_id,
            "fitted_at": self.fitted_at,
            "params": self.params,
            "features": list(FEATURES),
            "tasks": {task: fit.to_dict() for task, fit in sorted(self.tasks.items())},
        }

    def to_json(self) -> str:
        return json.dumps({"version": self.version, **self.content()}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrackRecordFit:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"track record fit format {data.get('format')!r}, this version reads {FORMAT}")
        return cls(
            rule_id=data["rule_id"],
            params=data["params"],
            fitted_at=data["fitted_at"],
            tasks={task: TaskFit.from_dict(fit) for task, fit in data["tasks"].items()},
            version=data["version"],
        )


def fit_params(params: TrackRecordParams) -> dict[str, Any]:
    """The params that change a fit (an edited alpha or min_decisions makes the old fit stale); the audit
    share only changes what happens after the prediction."""
    return params.model_dump(mode="json", exclude={"audit_share"})


def _hashed_unit(key: str) -> float:
    """A stable number in [0, 1) for `key`: the same on every run and every replica."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def in_calibration(item_id: str, share: float) -> bool:
    """Whether an item falls in the calibration split: a stable hash, so a refit keeps each item's side."""
    return _hashed_unit(item_id) < share


def in_audit_sample(task: str, text: str, draft: str, share: float) -> bool:
    """Whether a vouched draft is one of the `share` still sent to review (the same draft, the same answer)."""
    return _hashed_unit(f"audit\x00{task}\x00{text}\x00{draft}") < share


def fit_task(task: str, items: Sequence[ReviewedItem], params: TrackRecordParams) -> TaskFit:
    accepted = sum(item.accepted for item in items)
    if len(items) < params.min_decisions:
        return TaskFit(
            task,
            len(items),
            accepted,
            None,
            None,
            f"off: {len(items)} reviewed decisions, the rule needs {params.min_decisions} (min_decisions)",
        )
    calibration_part = [item for item in items if in_calibration(item.id, params.calibration_share)]
    training_part = [item for item in items if not in_calibration(item.id, params.calibration_share)]
    if not training_part or not calibration_part:
        return TaskFit(task, len(items), accepted, None, None, "off: the split left one side empty")
    model = fit_acceptance(
        np.array([item.features for item in training_part]), [item.accepted for item in training_part]
    )
    predicted = model.predict(np.array([item.features for item in calibration_part]))
    calibration = calibrate(
        predicted, [item.accepted for item in calibration_part], params.alpha, params.confidence
    )
    state = "on" if calibration.threshold is not None else "off"
    return TaskFit(task, len(items), accepted, model, calibration, f"{state}: {calibration.reason}")


def fit_rule(
    rule_id: str,
    params: TrackRecordParams,
    items_by_task: dict[str, Sequence[ReviewedItem]],
    now: datetime | None = None,
) -> TrackRecordFit:
    """Fit every task the rule covers; the version is the fit time and a hash of the content."""
    fitted_at = (now or datetime.now(UTC)).astimezone(UTC)
    fit = TrackRecordFit(
        rule_id,
        fit_params(params),
        fitted_at.isoformat(timespec="seconds"),
        {task: fit_task(task, items, params) for task, items in sorted(items_by_task.items())},
    )
    digest = hashlib.sha256(json.dumps(fit.content(), sort_keys=True).encode("utf-8")).hexdigest()[:12]
    return TrackRecordFit(
        fit.rule_id, fit.params, fit.fitted_at, fit.tasks, f"{fitted_at:%Y%m%dT%H%M%SZ}-{digest}"
    )


class FitFiles:
    """The fits of every track_record rule under one folder (the home's `routing/track_record`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _rule_dir(self, rule_id: str) -> Path:
        return self.root / rule_id  # rule ids are [a-z0-9_.-] (models.RuleBase), never a path

    def save(self, fit: TrackRecordFit) -> Path:
        """Write the version (once) and make it current; private files, atomic replaces."""
        folder = self._rule_dir(fit.rule_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{fit.version}.json"
        if not path.exists():
            _write_atomic(path, fit.to_json())
        _write_atomic(folder / "current", fit.version + "\n")
        return path

    def current_version(self, rule_id: str) -> str | None:
        try:
            version = (self._rule_dir(rule_id) / "current").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return version if _VERSION.match(version) else None

    def load(self, rule_id: str, version: str | None = None) -> TrackRecordFit | None:
        """The named version, or the current one; None when the rule was never fitted."""
        version = version or self.current_version(rule_id)
        if version is None:
            return None
        if not _VERSION.match(version):
            raise ValueError(
                f"not a track record version: {version!r} (expected e.g. 20261206T093000Z-0123456789ab)"
            )
        return TrackRecordFit.from_json(
            (self._rule_dir(rule_id) / f"{version}.json").read_text(encoding="utf-8")
        )

    def versions(self, rule_id: str) -> list[str]:
        folder = self._rule_dir(rule_id)
        return (
            sorted(p.stem for p in folder.glob("*.json") if _VERSION.match(p.stem)) if folder.is_dir() else []
        )

    def stamp(self, rule_id: str) -> tuple[int, int] | None:
        """What changes when a new fit becomes current (the pointer file's mtime and size)."""
        try:
            info = (self._rule_dir(rule_id) / "current").stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size


def _write_atomic(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class TrackRecordSource(Protocol):
    """What a track_record rule reads at routing time: its current fit, and the reviewed examples near an
    input (same task, most similar first). Either may raise when its store is unavailable."""

    def fit(self, rule_id: str) -> TrackRecordFit | None: ...

    def neighbours(self, task: str, text: str, k: int) -> list[Neighbour]: ...


class FileTrackRecord:
    """Fits read from `FitFiles`, re-read when `tacit route fit` makes a new one current (checked on each
    call: one stat), and neighbours from the given lookup."""

    def __init__(self, files: FitFiles, neighbours: Callable[[str, str, int], list[Neighbour]]) -> None:
        self._files = files
        self._lookup = neighbours
        self._loaded: dict[str, tuple[tuple[int, int] | None, TrackRecordFit | None]] = {}

    def fit(self, rule_id: str) -> TrackRecordFit | None:
        stamp = self._files.stamp(rule_id)
        cached = self._loaded.get(rule_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        fit = None if stamp is None else self._files.load(rule_id)
        self._loaded[rule_id] = (stamp, fit)
        return fit

    def neighbours(self, task: str, text: str, k: int) -> list[Neighbour]:
        return self._lookup(task, text, k)


def assess(
    rule: TrackRecordRule,
    source: TrackRecordSource | None,
    task: str,
    text: str,
    draft: str,
    entropy: float | None,
) -> dict[str, Any]:
    """Whether the rule vouches for this draft, with everything needed to audit and reproduce it.

    Vouches only when the task's fit is current for the rule's params, is on, and predicts an acceptance
    at or above its calibrated threshold; anything missing or failing means review, and says why."""
    params = rule.params
    out: dict[str, Any] = {
        "rule": rule.id,
        "task": task,
        "vouched": False,
        "fit_version": None,
        "predicted_acceptance": None,
        "threshold": None,
        "calibration_size": None,
        "error_bound": None,
        "measured_error": None,
        "alpha": params.alpha,
        "confidence": params.confidence,
        "decisions": None,
        "signals": None,
        "audit_sample": False,
    }

    def review(why: str) -> dict[str, Any]:
        out["reason"] = f"review: {why}"
        return out

    if source is None:
        return review("no track record given to the router (Router(..., track_record=...)); nothing vouches")
    try:
        fit = source.fit(rule.id)
    except Exception as exc:  # unreadable or malformed file: routing answers (review), never fails
        return review(f"the fitted rule cannot be read ({type(exc).__name__}: {str(exc)[:200]})")
    if fit is None:
        return review("not fitted yet; `tacit route fit` fits it from the reviewers' decisions")
    out["fit_version"] = fit.version
    if fit.params != fit_params(params):
        return review(f"fit {fit.version} was made for other params; refit with `tacit route fit`")
    task_fit = fit.tasks.get(task)
    if task_fit is None:
        return review(f"no reviewed decisions for task {task!r} in fit {fit.version}")
    out["decisions"] = task_fit.decisions
    calibration = task_fit.calibration
    if calibration is not None:
        out["calibration_size"] = calibration.calibration_size
        out["error_bound"] = calibration.error_bound
        out["measured_error"] = calibration.measured_error
        out["threshold"] = calibration.threshold
    if not task_fit.active:
        return review(task_fit.reason)
    try:
        near = source.neighbours(task, text, params.neighbours) if text else []
    except Exception as exc:  # the store down or being rebuilt: without precedent nothing is vouched for
        return review(f"the example store is unavailable ({type(exc).__name__}: {str(exc)[:200]})")
    features = signals(near, draft, entropy)
    out["signals"] = dict(zip(FEATURES, (round(value, 4) for value in features), strict=True))
    predicted = float(task_fit.model.predict(features)[0])  # type: ignore[union-attr]
    out["predicted_acceptance"] = round(predicted, 4)
    threshold = calibration.threshold  # type: ignore[union-attr]
    if predicted < threshold:  # type: ignore[operator]
        return review(f"predicted acceptance {predicted:.3f} < threshold {threshold:g} (fit {fit.version})")
    if params.audit_share and in_audit_sample(task, text, draft, params.audit_share):
        out["audit_sample"] = True
        return review(
            f"an audit sample (audit_share {params.audit_share:g}) of the drafts it vouches for: predicted "
            f"acceptance {predicted:.3f} >= threshold {threshold:g} (fit {fit.version})"
        )
    out["vouched"] = True
    out["reason"] = (
        f"vouched: predicted acceptance {predicted:.3f} >= threshold {threshold:g}; error bound "
        f"{calibration.error_bound:.3f} <= alpha {params.alpha:g} on {calibration.auto_count} of "  # type: ignore[union-attr]
        f"{calibration.calibration_size} calibration items (fit {fit.version})"  # type: ignore[union-attr]
    )
    return out

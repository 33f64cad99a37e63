"""What the AWS setup wizard and the teardown dialog share: the list of steps with their
outcome, the job's log, and how a provisioning job running off the GUI thread reports to
them (through a :class:`~crowdmood_gui.ui.tasks.JobRelay`)."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QFormLayout, QLabel, QPlainTextEdit, QWidget

from crowdmood_gui.core.aws.clients import describe_aws_error, make_session
from crowdmood_gui.core.aws.provision import Provisioner, StepResult
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.ui.tasks import JobRelay

# (profile, region) -> a boto3 session; tests pass one that talks to moto.
BotoSessionFactory = Callable[[str | None, str | None], Any]
LOG_LINES = 2000

STATUS_MARKS = {
    "pending": "○",
    "running": "…",
    "deleting": "…",
    "created": "✓",
    "adopted": "✓",
    "checked": "✓",
    "deleted": "✓",
    "absent": "✓",
    "kept": "•",
    "failed": "✗",
    "cancelled": "■",
    "skipped": "–",
}


def default_boto_session(profile: str | None, region: str | None):
    return make_session(profile=profile, region=region)


def error_text(exc: BaseException) -> str:
    """One line for the user: ours as they are, AWS's with what to do about them."""
    if isinstance(exc, CrowdMoodError):
        return str(exc)
    return describe_aws_error(exc)  # type: ignore[arg-type]


def safe_emit(emit: Callable[..., Any]) -> Callable[..., None]:
    """A relay signal's emit that is a no-op once the relay is gone (a window closed while
    the worker still logs): the provisioning itself must not fail because of it."""
    def call(*args: Any) -> None:
        try:
            emit(*args)
        except RuntimeError:
            pass
    return call


def report_through(provisioner: Provisioner, relay: JobRelay, *, steps: bool = True) -> Provisioner:
    """Send the provisioner's log lines (and, with ``steps``, a copy of each step's result)
    to the GUI thread through ``relay``."""
    provisioner.log = safe_emit(relay.line.emit)
    if steps:
        step = safe_emit(relay.step.emit)
        provisioner.on_step = lambda result: step(_copy_step(result))
    return provisioner


def _copy_step(result: StepResult) -> StepResult:
    # The worker goes on changing its own object; the GUI thread gets a snapshot.
    return StepResult(result.key, result.title, result.resource, result.status, result.message, list(result.changes))


class StepList(QWidget):
    """One line per step: a mark, the title, the resource and its outcome."""

    def __init__(self, steps: list[tuple[str, str]]):
        super().__init__()
        self.labels: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for key, title in steps:
            label = QLabel(f"{STATUS_MARKS['pending']}  {title}")
            label.setObjectName(f"step_{key}")
            label.setWordWrap(True)
            self.labels[key] = label
            form.addRow(label)

    def reset(self, steps: list[tuple[str, str]]) -> None:
        for key, title in steps:
            self.labels[key].setText(f"{STATUS_MARKS['pending']}  {title}")

    def show_result(self, result: StepResult) -> None:
        text = f"{STATUS_MARKS.get(result.status, '?')}  {result.title} ({result.resource}): {result.status}"
        if result.changes:
            text += " — " + "; ".join(result.changes)
        if result.message:
            text += f" — {result.message}"
        self.labels[result.key].setText(text)


class JobLog(QPlainTextEdit):
    """The job's log lines, read-only and bounded."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("log")
        self.setReadOnly(True)
        self.setMaximumBlockCount(LOG_LINES)

"""What a setup, teardown or rollback did, step by step (the wizard and the CLI show it)."""

from __future__ import annotations

from dataclasses import dataclass, field

OK_STATUSES = frozenset({"created", "adopted", "checked", "deleted", "absent", "kept"})


@dataclass
class StepResult:
    key: str
    title: str
    resource: str
    status: str  # created | adopted | checked | failed | cancelled | skipped | deleted | absent | kept
    message: str = ""
    changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def line(self) -> str:
        text = f"{self.title} ({self.resource}): {self.status}"
        if self.changes:
            text += " [" + "; ".join(self.changes) + "]"
        if self.message:
            text += f": {self.message}"
        return text


@dataclass
class Report:
    action: str  # setup | teardown | rollback
    steps: list[StepResult] = field(default_factory=list)
    cancelled: bool = False
    rollback: "Report | None" = None
    # Resources this run created, including one whose step then failed half-way.
    made: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(step.ok for step in self.steps)

    def with_status(self, *statuses: str) -> list[str]:
        return [step.key for step in self.steps if step.status in statuses]

    @property
    def created(self) -> list[str]:
        return self.with_status("created")

    @property
    def adopted(self) -> list[str]:
        return self.with_status("adopted")

    @property
    def failed(self) -> list[StepResult]:
        return [step for step in self.steps if step.status == "failed"]

    def step(self, key: str) -> StepResult | None:
        return next((s for s in self.steps if s.key == key), None)

    def summary(self) -> str:
        if self.cancelled:
            head = f"{self.action} cancelled"
        elif self.ok:
            head = f"{self.action} succeeded"
        else:
            head = f"{self.action} failed: " + "; ".join(f"{s.title}: {s.message}" for s in self.failed)
        if self.action == "setup":
            head += f" (created: {', '.join(self.created) or 'nothing'}; adopted: {', '.join(self.adopted) or 'nothing'})"
        if self.rollback is not None:
            head += f"; rolled back: {', '.join(self.rollback.with_status('deleted')) or 'nothing'}"
            if not self.rollback.ok:
                head += " (some resources could not be deleted: see the log)"
        return head


@dataclass(frozen=True)
class PlannedResource:
    key: str
    kind: str
    name: str
    details: str


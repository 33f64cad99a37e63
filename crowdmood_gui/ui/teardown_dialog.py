"""Remove the AWS resources the setup wizard created: confirm, then delete, one line per
resource and a log. The work is the Qt-free
:meth:`~crowdmood_gui.core.aws.provision.Provisioner.teardown` that ``crowdmood teardown``
runs too, in a worker thread; on success the settings forget the setup (back to the local
backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.provision import (
    STEP_TITLES,
    TEARDOWN_ORDER,
    Provisioner,
    Report,
    StateFile,
    forget_setup,
    names_from_config,
)
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.ui.aws_steps import (
    BotoSessionFactory,
    JobLog,
    StepList,
    default_boto_session,
    error_text,
    report_through,
)
from crowdmood_gui.ui.tasks import BackgroundJob, JobRelay


class TeardownDialog(QDialog):
    """Confirm, then delete what setup created, one line per resource and a log."""

    def __init__(self, config: AppConfig, session_factory: BotoSessionFactory = default_boto_session, parent: QWidget | None = None,
                 *, config_path: Path | None = None, provisioner_kwargs: dict[str, Any] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Remove the AWS resources")
        self.resize(680, 520)
        self.config = config
        self.session_factory = session_factory
        self.config_path = config_path
        self.provisioner_kwargs = dict(provisioner_kwargs or {})
        self.names = names_from_config(config)
        self.region = config.aws.region
        if self.names is None:
            try:
                recorded = StateFile().deployments()
            except CrowdMoodError:  # an unreadable state file: nothing recorded to offer
                recorded = []
            if len(recorded) == 1:
                self.names = ResourceNames.from_dict(recorded[0]["names"])
                self.region = recorded[0]["region"]
        self.report: Report | None = None
        layout = QVBoxLayout(self)
        self.intro = QLabel("")
        self.intro.setObjectName("intro")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.confirm = QCheckBox("Yes, delete them, including every face crop in the bucket")
        self.confirm.setObjectName("confirm")
        layout.addWidget(self.confirm)
        self.steps = StepList([(k, STEP_TITLES[k]) for k in TEARDOWN_ORDER])
        layout.addWidget(self.steps)
        self.status = QLabel("")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.log = JobLog()
        layout.addWidget(self.log, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.delete_button = self.buttons.addButton("Delete", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.delete_button.setObjectName("delete")
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.confirm.toggled.connect(lambda on: self.delete_button.setEnabled(on and self.names is not None and not self.job.running))
        self.job = BackgroundJob(self, name="aws-setup")
        self.job.relay.line.connect(self.log.appendPlainText)
        self.job.relay.step.connect(self.steps.show_result)
        self.job.relay.done.connect(self._finished)
        if self.names is None or not self.region:
            self.intro.setText("No AWS setup is recorded in the settings: nothing to remove.")
            self.confirm.setEnabled(False)
        else:
            n = self.names
            self.intro.setText(
                f"This deletes, in {self.region}, what setup created: bucket {n.bucket} (emptied first), table {n.table}, "
                f"function {n.function}, role {n.role}, log group {n.log_group} and dashboard {n.dashboard}. "
                "Resources that existed before setup are kept."
            )

    def start(self) -> None:
        if self.job.running or self.names is None:
            return
        self.delete_button.setEnabled(False)
        self.confirm.setEnabled(False)
        self.status.setText("deleting…")
        factory, profile, region, names = self.session_factory, self.config.aws.profile, self.region, self.names
        kwargs = self.provisioner_kwargs

        def work(relay: JobRelay) -> Report:
            provisioner = report_through(Provisioner(factory(profile, region), names, **kwargs), relay)
            return provisioner.teardown()

        self.job.start(work)

    def _finished(self, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(f"teardown failed: {error_text(result)}")
            self._ready_to_retry()
            return
        self.report = result
        if result.ok:
            forget_setup(self.names, config_path=self.config_path)
            self.status.setText("Everything setup created is gone. The console is back on the local backend.")
        else:
            left = ", ".join(f"{s.title} ({s.resource})" for s in result.failed)
            self.status.setText(f"Could not delete: {left}. Press Delete to try again, or remove them in the AWS console.")
            self._ready_to_retry()

    def _ready_to_retry(self) -> None:
        # The box stays ticked: Delete is pressable again at once (it stayed greyed out until
        # the box was unticked and ticked again, while the text said "Press Delete").
        self.confirm.setEnabled(True)
        self.delete_button.setEnabled(self.confirm.isChecked())

    def reject(self) -> None:
        if self.job.running:
            return  # deleting half a stack and walking away helps no one; it finishes in seconds
        super().reject()


def open_teardown_dialog(parent: QWidget | None, config: AppConfig, config_path: Path | None = None) -> None:
    TeardownDialog(config, parent=parent, config_path=config_path).exec()

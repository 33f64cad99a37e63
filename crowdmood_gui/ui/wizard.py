"""The AWS Setup wizard (the teardown dialog is :mod:`crowdmood_gui.ui.teardown_dialog`).

Credentials -> region -> names -> review (plan + cost per hour) -> provision -> verify ->
finish (writes the config). Every AWS call runs in a worker thread; results reach the GUI
thread through Qt signals, so the window never blocks. The work itself is the Qt-free
:class:`~crowdmood_gui.core.aws.provision.Provisioner` that ``crowdmood setup`` runs too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from crowdmood_gui.core.aws import naming, pricing, regions
from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.provision import (
    FAILURE_RETENTION_S,
    STEPS,
    Provisioner,
    Report,
    VerifyResult,
    apply_to_config,
    finish_setup,
    names_from_config,
)
from crowdmood_gui.core.aws.policies import operator_policy_json
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.emotions import EXPRESSION_DISCLAIMER
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.ui.aws_steps import (
    BotoSessionFactory,
    JobLog,
    StepList,
    default_boto_session,
    error_text,
    report_through,
)
from crowdmood_gui.ui.tasks import BackgroundJob
from crowdmood_gui.ui.tasks import JobRelay as _Relay  # the pages' work functions take it

ENV_PROFILE_LABEL = "environment / default credential chain"
# Readable on the console's dark palette and on a light one.
ERROR_COLOUR = "#EF7A74"
OK_COLOUR = "#81C995"
# regions.CREDENTIALS_ADVICE as steps (one long wrapped sentence was clipped in the page).
CREDENTIALS_ADVICE_HTML = (
    "<b>No working AWS credentials.</b> Do one of these, then press <i>Check again</i>:"
    "<ul style='margin-left: 12px'>"
    "<li>an access key: run <code>aws configure</code> in a terminal;</li>"
    "<li>IAM Identity Center (SSO): run <code>aws configure sso</code>, then <code>aws sso login</code>;</li>"
    "<li>or start crowdmood with <code>AWS_ACCESS_KEY_ID</code> and <code>AWS_SECRET_ACCESS_KEY</code> set.</li>"
    "</ul>"
    "Setup needs an identity allowed to create S3, DynamoDB, IAM, Lambda,<br>Logs and CloudWatch resources."
)
# --- pages ---------------------------------------------------------------------------


class CredentialsPage(QWizardPage):
    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("AWS credentials")
        self.setSubTitle("Pick the AWS profile (or SSO profile) to set up with. Nothing is stored by the app but the profile name.")
        self.profile = QComboBox()
        self.profile.setObjectName("profile")
        self.profile.addItem(ENV_PROFILE_LABEL, None)
        for name in regions.list_profiles():
            self.profile.addItem(name, name)
        if wizard.config.aws.profile:
            index = self.profile.findData(wizard.config.aws.profile)
            if index >= 0:
                self.profile.setCurrentIndex(index)
        self.identity = QLabel("checking…")
        self.identity.setObjectName("identity")
        self.identity.setWordWrap(True)
        self.identity.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice = QLabel("")
        self.advice.setObjectName("advice")
        self.advice.setWordWrap(False)  # explicit lines: a wrapped rich-text label got one line too few
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # commands to copy
        # The box is a frame around the label: stylesheet padding on a word-wrapped QLabel
        # makes Qt under-estimate its height and clip the last line.
        self.advice_box = QFrame()
        self.advice_box.setObjectName("adviceBox")
        self.advice_box.setStyleSheet("QFrame#adviceBox { background: rgba(255, 183, 77, 0.12); border: 1px solid #8D6E3F;"
                                      " border-radius: 4px; }")
        box_layout = QVBoxLayout(self.advice_box)
        box_layout.setContentsMargins(10, 8, 10, 8)
        box_layout.addWidget(self.advice)
        self.advice_box.hide()
        self.recheck = QPushButton("Check again")
        self.recheck.clicked.connect(self.check)
        form = QFormLayout(self)
        form.addRow("Profile:", self.profile)
        form.addRow("Identity:", self.identity)
        form.addRow(self.advice_box)
        form.addRow(self.recheck)
        self.job = BackgroundJob(self, name="aws-setup")
        self.job.relay.done.connect(self._checked)
        self.profile.currentIndexChanged.connect(self.check)
        self._generation = 0

    def initializePage(self) -> None:
        self.check()

    def check(self) -> None:
        self.w.identity = None
        self._generation += 1
        generation = self._generation
        profile = self.profile.currentData()
        region = self.w.config.aws.region or None
        self.identity.setText("checking…")
        self.identity.setStyleSheet("")
        self.advice.setText("")
        self.advice_box.hide()
        self.completeChanged.emit()
        factory = self.w.session_factory

        def work(_relay):
            session = factory(profile, region)
            return generation, session, regions.whoami(session)

        def wrapped(relay):
            try:
                return work(relay)
            except Exception as exc:
                return generation, exc

        self.job.start(wrapped)

    def _checked(self, result) -> None:
        if isinstance(result, Exception) or result[0] != self._generation:
            return
        if len(result) == 2:
            self.w.identity = None
            self.identity.setText(f"✗ not usable: {error_text(result[1])}")
            self.identity.setStyleSheet(f"color: {ERROR_COLOUR}")
            self.advice.setText(CREDENTIALS_ADVICE_HTML)
            self.advice_box.show()
        else:
            _, session, identity = result
            self.w.identity = identity
            self.w.profile_region = session.region_name
            self.identity.setText(f"✓ {identity.describe()}")
            self.identity.setStyleSheet(f"color: {OK_COLOUR}")
            self.advice.setText("")
            self.advice_box.hide()
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.w.identity is not None

    def validatePage(self) -> bool:
        self.w.profile_name = self.profile.currentData()
        return self.w.identity is not None


class RegionPage(QWizardPage):
    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("Region")
        self.setSubTitle("Only regions where Amazon Rekognition is offered are listed.")
        self.region = QComboBox()
        self.region.setObjectName("region")
        for name in regions.rekognition_regions():
            self.region.addItem(name, name)
        self.warning = QLabel("")
        self.warning.setObjectName("region_warning")
        self.warning.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Region:", self.region)
        form.addRow(self.warning)

    def initializePage(self) -> None:
        wanted = self.w.config.aws.region or self.w.profile_region or "us-east-1"
        problem = regions.region_warning(wanted)
        if problem:
            self.warning.setText(f"Your configured region {wanted}: {problem.split(': ', 1)[0]}. Pick another one.")
            wanted = "us-east-1"
        else:
            self.warning.setText("")
        index = self.region.findData(wanted)
        self.region.setCurrentIndex(max(index, 0))

    def validatePage(self) -> bool:
        self.w.region = self.region.currentData()
        return regions.region_warning(self.w.region) is None


class NamesPage(QWizardPage):
    FIELDS = ("bucket", "table", "function", "role", "dashboard")

    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("Resource names")
        self.setSubTitle("Defaults follow the original pipeline's names plus a unique suffix. Edit freely; each is checked as you type.")
        grid = QGridLayout(self)
        self.suffix = QLineEdit()
        self.suffix.setObjectName("suffix")
        self.new_suffix = QPushButton("New suffix")
        self.new_suffix.clicked.connect(lambda: self.suffix.setText(naming.random_suffix()))
        self.suffix_error = QLabel("")
        self.suffix_error.setStyleSheet(f"color: {ERROR_COLOUR}")
        grid.addWidget(QLabel("Suffix:"), 0, 0)
        grid.addWidget(self.suffix, 0, 1)
        grid.addWidget(self.new_suffix, 0, 2)
        grid.addWidget(self.suffix_error, 1, 1, 1, 2)
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        labels = {"bucket": "S3 bucket:", "table": "DynamoDB table:", "function": "Lambda function:", "role": "IAM role:", "dashboard": "Dashboard:"}
        for row, key in enumerate(self.FIELDS, start=1):
            edit = QLineEdit()
            edit.setObjectName(key)
            error = QLabel("")
            error.setObjectName(f"{key}_error")
            error.setStyleSheet(f"color: {ERROR_COLOUR}")
            edit.textChanged.connect(self._changed)
            grid.addWidget(QLabel(labels[key]), 2 * row, 0)
            grid.addWidget(edit, 2 * row, 1, 1, 2)
            grid.addWidget(error, 2 * row + 1, 1, 1, 2)
            self.edits[key], self.errors[key] = edit, error
        self.suffix.textChanged.connect(self._suffix_changed)
        existing = names_from_config(wizard.config)
        if existing is not None:  # re-running setup adopts the configured stack
            for key in self.FIELDS:
                self.edits[key].setText(getattr(existing, key))
            self.suffix.blockSignals(True)
            self.suffix.setText(existing.bucket.rsplit("-", 1)[-1])
            self.suffix.blockSignals(False)
        else:
            self.suffix.setText(naming.random_suffix())

    def _suffix_changed(self, text: str) -> None:
        problem = naming.validate_suffix(text)
        self.suffix_error.setText(problem or "")
        if problem:
            self.completeChanged.emit()
            return
        defaults = naming.default_names(text, namespace=self.w.config.aws.namespace)
        for key in self.FIELDS:
            self.edits[key].setText(getattr(defaults, key))

    def names(self) -> ResourceNames:
        return ResourceNames(
            namespace=self.w.config.aws.namespace,
            prefix=self.w.config.aws.prefix,
            **{key: self.edits[key].text().strip() for key in self.FIELDS},
        )

    def _changed(self, _text: str = "") -> None:
        problems = naming.validate_names(self.names())
        for key in self.FIELDS:
            self.errors[key].setText(problems.get(key, ""))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not naming.validate_names(self.names())

    def validatePage(self) -> bool:
        self.w.names = self.names()
        return True


class ReviewPage(QWizardPage):
    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("Review")
        self.setSubTitle("These resources will be created (or adopted if they exist), including the failure queue that "
                         "keeps the analyses AWS gives up on. Nothing runs until you press Create.")
        self.plan = QPlainTextEdit()
        self.plan.setObjectName("plan")
        self.plan.setReadOnly(True)
        self.tracks = QDoubleSpinBox()
        self.tracks.setRange(0, 100)
        self.tracks.setDecimals(0)
        self.tracks.setValue(5)
        self.tracks.setSuffix(" faces in view")
        self.tracks.valueChanged.connect(self._update_cost)
        self.cost = QLabel("")
        self.cost.setObjectName("cost")
        self.cost.setWordWrap(True)
        self.rollback = QCheckBox("If a step fails, delete what this run created")
        self.rollback.setObjectName("rollback")
        self.use_aws = QCheckBox("Use the AWS backend once set up")
        self.use_aws.setObjectName("use_aws")
        # On: the wizard is run to use AWS (off, a successful setup left the console local).
        self.use_aws.setChecked(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plan, 2)
        row = QHBoxLayout()
        row.addWidget(QLabel("Running cost at"))
        row.addWidget(self.tracks)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.cost)
        layout.addWidget(self.rollback)
        layout.addWidget(self.use_aws)
        # A commit page: once Create is pressed there is no Back into the settings it used.
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Create")

    def initializePage(self) -> None:
        try:
            provisioner = self.w.make_provisioner()
        except Exception as exc:  # a bad region or name: say so instead of an empty page
            self.plan.setPlainText(f"Cannot plan the setup: {error_text(exc)}\nGo back and fix it.")
            self._update_cost()
            return
        text = provisioner.describe_plan()
        text += "\n\nMinimal IAM policy for the console operator's own user:\n"
        text += operator_policy_json(self.w.names, self.w.region, self.w.identity.account if self.w.identity else "ACCOUNT_ID")
        self.plan.setPlainText(text)
        self._update_cost()

    def _update_cost(self) -> None:
        cfg = self.w.config
        estimate = pricing.estimate_cost_per_hour(
            tracks=self.tracks.value(),
            interval_s=cfg.sampling.interval_s,
            budget_usd_per_hour=cfg.aws.budget_usd_per_hour,
            poll_interval_s=cfg.aws.poll_interval_s,
            price_per_image=cfg.aws.price_per_image_usd,
        )
        self.w.cost_estimate = estimate
        self.cost.setText(
            f"about ${estimate.total:.3f} per hour ({estimate.images_per_hour:,.0f} images/hour, one crop per face every "
            f"{cfg.sampling.interval_s:g} s{', capped by the hourly budget' if estimate.capped_by_budget else ''}; "
            "Rekognition is most of it). Idle, the stack costs almost nothing."
        )
        self.cost.setToolTip(estimate.describe())

    def validatePage(self) -> bool:
        self.w.rollback_on_failure = self.rollback.isChecked()
        self.w.use_aws_backend = self.use_aws.isChecked()
        return True


class ProvisionPage(QWizardPage):
    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("Creating the AWS resources")
        self.steps = StepList(list(STEPS))
        self.log = JobLog()
        self.status = QLabel("")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("Run again")
        self.retry_button.setObjectName("retry")
        self.retry_button.clicked.connect(self.start)
        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.steps)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.log, 1)
        self.job = BackgroundJob(self, name="aws-setup")
        self.job.relay.line.connect(self.log.appendPlainText)
        self.job.relay.step.connect(self.steps.show_result)
        self.job.relay.done.connect(self._finished)
        self.report: Report | None = None
        self.cancel_event = threading.Event()

    def initializePage(self) -> None:
        self.start()

    def start(self) -> None:
        if self.job.running:
            return
        self.report = None
        self.cancel_event = threading.Event()
        self.steps.reset(list(STEPS))
        self.status.setText("working… (you can keep using the console)")
        self.cancel_button.setEnabled(True)
        self.retry_button.setEnabled(False)
        self.completeChanged.emit()
        rollback = self.w.rollback_on_failure
        make = self.w.make_provisioner
        cancel = self.cancel_event

        def work(relay: _Relay) -> Report:
            # Built here: a boto3 session loads botocore's data (slow), and a bad region or
            # name raises, which must reach the status line, not a Qt virtual.
            provisioner = report_through(make(cancel=cancel), relay)
            self.w.provisioner = provisioner
            return provisioner.run(rollback_on_failure=rollback)

        self.job.start(work)

    def cancel(self) -> None:
        self.cancel_event.set()
        self.status.setText("cancelling after the current call…")

    def _finished(self, result) -> None:
        self.cancel_button.setEnabled(False)
        if isinstance(result, Exception):
            self.status.setText(f"setup failed: {error_text(result)}")
            self.log.appendPlainText(self.status.text())
        else:
            self.report = result
            self.status.setText(result.summary() if result.ok else result.summary() + "\nFix the cause and press 'Run again' (finished steps are adopted).")
        self.retry_button.setEnabled(not self.ok)
        self.completeChanged.emit()
        self.w.job_finished()

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    def isComplete(self) -> bool:
        return self.ok and not self.job.running


class VerifyPage(QWizardPage):
    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("Verify")
        self.setSubTitle("A bundled test face is uploaded; its result must reach DynamoDB and CloudWatch. "
                         "The failure queue is checked for analyses waiting to be sent again.")
        self.result_label = QLabel("")
        self.result_label.setObjectName("verify_result")
        self.result_label.setWordWrap(True)
        self.log = JobLog()
        self.again = QPushButton("Verify again")
        self.again.clicked.connect(self.start)
        layout = QVBoxLayout(self)
        layout.addWidget(self.result_label)
        layout.addWidget(self.again)
        layout.addWidget(self.log, 1)
        disclaimer = QLabel(EXPRESSION_DISCLAIMER)
        disclaimer.setWordWrap(True)
        layout.addWidget(disclaimer)
        self.job = BackgroundJob(self, name="aws-setup")
        self.job.relay.line.connect(self.log.appendPlainText)
        self.job.relay.done.connect(self._finished)
        self.result: VerifyResult | None = None

    def initializePage(self) -> None:
        self.start()

    def start(self) -> None:
        if self.job.running:
            return
        self.result = None
        self.again.setEnabled(False)
        self.result_label.setText("uploading the test face and waiting for its result…")
        self.completeChanged.emit()
        make, cancel = self.w.make_provisioner, self.w.verify_cancel
        invoke, timeout = self.w.invoke, self.w.verify_timeout_s

        def work(relay: _Relay) -> VerifyResult:
            provisioner = report_through(make(cancel=cancel), relay, steps=False)
            return provisioner.verify(invoke=invoke, timeout_s=timeout)

        self.job.start(work)

    def _finished(self, result) -> None:
        if isinstance(result, Exception):
            result = VerifyResult(False, error_text(result))
        self.result = result
        mark = "✓" if result.ok else "✗"
        text = f"{mark} {result.message}"
        if not result.ok:
            text += "\nYou can finish anyway (the settings are saved) and check again later with 'Verify again'."
        self.result_label.setText(text)
        self.again.setEnabled(True)
        self.completeChanged.emit()
        self.w.job_finished()

    def isComplete(self) -> bool:
        return self.result is not None and not self.job.running


class FinishPage(QWizardPage):
    def __init__(self, wizard: "AwsSetupWizard"):
        super().__init__()
        self.w = wizard
        self.setTitle("Done")
        self.summary = QLabel("")
        self.summary.setObjectName("finish_summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.summary.setOpenExternalLinks(True)
        self.policy = QPlainTextEdit()
        self.policy.setReadOnly(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Minimal IAM policy for the console operator's own user (attach it instead of admin rights):"))
        layout.addWidget(self.policy, 1)

    def initializePage(self) -> None:
        n, region = self.w.names, self.w.region
        url = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={n.dashboard}"
        backend = ("The console uses the AWS backend from its next session." if self.w.use_aws_backend
                   else "The backend setting is unchanged (still local).")
        days = FAILURE_RETENTION_S // 86400
        self.summary.setText(
            f"Bucket <b>{n.bucket}</b>, table <b>{n.table}</b>, function <b>{n.function}</b> in {region}. "
            f"Press Finish to save these settings. {backend}<br>"
            f"Failure queue <b>{n.failure_queue}</b>: an analysis AWS still fails after its retries waits there "
            f"{days} days; the console's status bar then shows “Failed N” in red, and "
            "<code>crowdmood aws-redrive</code> sends them again once the cause is fixed.<br>"
            f'CloudWatch dashboard: <a href="{url}">{n.dashboard}</a>'
        )
        self.policy.setPlainText(operator_policy_json(n, region, self.w.identity.account if self.w.identity else "ACCOUNT_ID"))


# --- the wizard ------------------------------------------------------------------------


class AwsSetupWizard(QWizard):
    """Set up the AWS backend; on Finish the settings are written to the config file."""

    PAGE_IDS = ("credentials", "region", "names", "review", "provision", "verify", "finish")

    def __init__(
        self,
        config: AppConfig,
        session_factory: BotoSessionFactory = default_boto_session,
        parent: QWidget | None = None,
        *,
        config_path: Path | None = None,
        invoke: Callable[[dict], Any] | None = None,
        verify_timeout_s: float = 120.0,
        provisioner_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Set up the AWS backend")
        self.resize(780, 580)  # the review, provision and policy pages show long text
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.config = config
        self.session_factory = session_factory
        self.config_path = config_path
        self.invoke = invoke
        self.verify_timeout_s = verify_timeout_s
        self.provisioner_kwargs = dict(provisioner_kwargs or {})
        self.identity: regions.Identity | None = None
        self.profile_name: str | None = config.aws.profile
        self.profile_region: str | None = None
        self.region: str = config.aws.region or "us-east-1"
        self.names: ResourceNames | None = None
        self.rollback_on_failure = False
        self.use_aws_backend = config.backend == "aws"
        self.cost_estimate: pricing.CostEstimate | None = None
        self.provisioner: Provisioner | None = None
        self.verify_cancel = threading.Event()
        self.result_config: AppConfig | None = None
        self._close_when_idle = False
        self.pages: dict[str, QWizardPage] = {}
        for key, cls in zip(self.PAGE_IDS, (CredentialsPage, RegionPage, NamesPage, ReviewPage, ProvisionPage, VerifyPage, FinishPage)):
            page = cls(self)
            self.pages[key] = page
            self.addPage(page)

    def page_named(self, key: str) -> QWizardPage:
        return self.pages[key]

    def make_provisioner(self, cancel: threading.Event | None = None) -> Provisioner:
        session = self.session_factory(self.profile_name, self.region)
        return Provisioner(session, self.names, cancel=cancel, **self.provisioner_kwargs)

    @property
    def busy(self) -> bool:
        return any(page.job.running for page in (self.pages["provision"], self.pages["verify"]))

    def job_finished(self) -> None:
        if self._close_when_idle and not self.busy:
            super().reject()

    def accept(self) -> None:
        if self.names is None:
            return
        try:
            finish_setup(self.names, region=self.region, profile=self.profile_name, use_aws_backend=self.use_aws_backend, config_path=self.config_path)
        except CrowdMoodError as exc:
            QMessageBox.warning(self, "Setup", f"Could not save the settings: {exc}")
            return
        self.result_config = apply_to_config(self.config, self.names, region=self.region, profile=self.profile_name, use_aws_backend=self.use_aws_backend)
        super().accept()

    def reject(self) -> None:
        """Cancel: stop the running job first (never block the GUI), close when it returns."""
        if self.busy:
            provision = self.pages["provision"]
            provision.cancel()
            self.verify_cancel.set()
            self._close_when_idle = True
            return
        super().reject()


# --- entry points for the main window --------------------------------------------------


def open_setup_wizard(parent: QWidget | None, config: AppConfig, config_path: Path | None = None) -> bool:
    """Run the wizard modally; True when the user finished (settings written to ``config_path``,
    default: the user config)."""
    wizard = AwsSetupWizard(config, parent=parent, config_path=config_path)
    return wizard.exec() == QDialog.DialogCode.Accepted

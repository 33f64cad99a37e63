"""The Setup wizard and the teardown dialog, driven offscreen against moto."""

from __future__ import annotations

import sys
import threading

import boto3
import pytest
from botocore.stub import Stubber
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from crowdmood_gui.core.aws.naming import default_names
from crowdmood_gui.core.aws.provision import StateFile
from crowdmood_gui.core.config import AppConfig, load_config
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.resources import LAMBDA_SOURCE, bundled_dir
from crowdmood_gui.ui.teardown_dialog import TeardownDialog
from crowdmood_gui.ui.wizard import AwsSetupWizard

HANDLER = bundled_dir(LAMBDA_SOURCE) / "handler.py"
ACCOUNT = "123456789012"


@pytest.fixture
def aws(moto_aws):
    return moto_aws


def session_factory(profile, region):
    return boto3.Session(region_name=region or "us-east-1")


def fast():
    return {"sleep": lambda s: None}


def handler_invoke(monkeypatch, function: str):
    """Run the real Lambda handler in-process (moto has no Lambda runtime), Rekognition stubbed."""
    monkeypatch.syspath_prepend(str(HANDLER.parent))
    sys.modules.pop("handler", None)
    import handler  # noqa: PLC0415

    rekognition = boto3.client("rekognition", region_name="us-east-1")
    stubber = Stubber(rekognition)
    emotions = [{"Type": t, "Confidence": 80.0 if t == "SURPRISED" else 2.0} for t in EMOTIONS]
    stubber.add_response("detect_faces", {"FaceDetails": [{"BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.2, "Top": 0.2},
                                                            "Confidence": 99.0, "Emotions": emotions}]})
    stubber.activate()
    monkeypatch.setattr(handler, "CLIENTS", handler.Clients(rekognition=rekognition))

    def invoke(event):
        env = boto3.client("lambda", region_name="us-east-1").get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return handler.lambda_handler(event, None)

    return invoke


def next_page(qtbot, wizard):
    before = wizard.currentId()
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    next_button = commit if commit.isVisible() else wizard.button(QWizard.WizardButton.NextButton)
    assert next_button.isEnabled()
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    assert wizard.currentId() == before + 1


def test_wizard_end_to_end(qtbot, aws, monkeypatch, tmp_path):
    config_path = tmp_path / "config.toml"
    invoke = handler_invoke(monkeypatch, "rekognize-emotions-wiz001")
    wizard = AwsSetupWizard(AppConfig(), session_factory, config_path=config_path, invoke=invoke,
                            verify_timeout_s=20, provisioner_kwargs=fast())
    qtbot.addWidget(wizard)
    wizard.show()
    main_thread = threading.current_thread()

    # 1. credentials: the identity arrives from a background call.
    creds = wizard.page_named("credentials")
    qtbot.waitUntil(lambda: ACCOUNT in creds.identity.text(), timeout=10000)
    assert creds.profile.itemText(0).startswith("environment")
    next_page(qtbot, wizard)

    # 2. region: only Rekognition regions.
    region = wizard.page_named("region")
    listed = [region.region.itemText(i) for i in range(region.region.count())]
    assert "us-east-1" in listed and "eu-north-1" not in listed
    region.region.setCurrentIndex(region.region.findData("us-east-1"))
    next_page(qtbot, wizard)

    # 3. names: defaults from the suffix, live validation, Next disabled while invalid.
    names = wizard.page_named("names")
    names.suffix.setText("wiz001")
    assert names.edits["bucket"].text() == "crowdmood-faces-wiz001"
    assert names.edits["table"].text() == "rekognize-faces-wiz001"
    assert names.edits["function"].text() == "rekognize-emotions-wiz001"
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    names.edits["bucket"].setText("Bad_Bucket")
    assert "lowercase" in names.errors["bucket"].text()
    assert not next_button.isEnabled()
    names.edits["bucket"].setText("crowdmood-faces-wiz001")
    assert names.errors["bucket"].text() == "" and next_button.isEnabled()
    next_page(qtbot, wizard)

    # 4. review: the plan and a cost per hour.
    review = wizard.page_named("review")
    plan = review.plan.toPlainText()
    assert "crowdmood-faces-wiz001" in plan and "rekognize-faces-wiz001" in plan and "dynamodb:Query" in plan
    assert "per hour" in review.cost.text() and "$" in review.cost.text()
    assert review.use_aws.isChecked()  # on by default: a successful run must leave the console on AWS
    assert "failure queue" in review.subTitle()
    assert wizard.button(QWizard.WizardButton.CommitButton).text() == "Create"
    next_page(qtbot, wizard)
    back = wizard.button(QWizard.WizardButton.BackButton)
    assert not (back.isVisible() and back.isEnabled())

    # 5. provision: runs in the background, one line per step.
    provision = wizard.page_named("provision")
    assert provision.job.thread is not main_thread
    qtbot.waitUntil(lambda: provision.report is not None, timeout=30000)
    assert provision.report.ok, provision.report.summary()
    assert provision.isComplete()
    assert "created" in provision.steps.labels["bucket"].text()
    assert "✓" in provision.steps.labels["dashboard"].text()
    assert "setup succeeded" in provision.log.toPlainText()
    next_page(qtbot, wizard)

    # 6. verify.
    verify = wizard.page_named("verify")
    qtbot.waitUntil(lambda: verify.result is not None, timeout=30000)
    assert verify.result.ok, verify.result.message
    assert "SURPRISED" in verify.result_label.text()
    next_page(qtbot, wizard)

    # 7. finish writes the config.
    summary = wizard.page_named("finish").summary.text()
    assert "crowdmood-faces-wiz001" in summary
    assert "rekognize-emotions-wiz001-failed" in summary and "aws-redrive" in summary and "Failed N" in summary
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)
    config = load_config(config_path)
    assert config.backend == "aws"
    assert (config.aws.region, config.aws.bucket, config.aws.table) == ("us-east-1", "crowdmood-faces-wiz001", "rekognize-faces-wiz001")
    assert (config.aws.function, config.aws.dashboard, config.aws.role) == ("rekognize-emotions-wiz001", "crowdmood-wiz001", "crowdmood-lambda-wiz001")
    assert wizard.result_config is not None and wizard.result_config.aws.bucket == "crowdmood-faces-wiz001"

    # Teardown dialog: confirmation, then nothing left.
    dialog = TeardownDialog(config, session_factory, config_path=config_path, provisioner_kwargs=fast())
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.delete_button.isEnabled()
    dialog.confirm.setChecked(True)
    assert dialog.delete_button.isEnabled()
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30000)
    assert dialog.report.ok, dialog.report.summary()
    assert "gone" in dialog.status.text()
    assert "deleted" in dialog.steps.labels["bucket"].text()
    assert boto3.client("s3").list_buckets()["Buckets"] == []
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []
    assert StateFile().deployments() == []
    assert load_config(config_path).backend == "local"


def test_no_credentials_shows_advice_and_blocks_next(qtbot, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    wizard = AwsSetupWizard(AppConfig(), session_factory)
    qtbot.addWidget(wizard)
    wizard.show()
    creds = wizard.page_named("credentials")
    qtbot.waitUntil(lambda: "not usable" in creds.identity.text(), timeout=10000)
    assert "no AWS credentials found" in creds.identity.text()
    assert "aws sso login" in creds.advice.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_failed_step_offers_run_again_then_completes(qtbot, aws, tmp_path, monkeypatch):
    from botocore.exceptions import ClientError

    from crowdmood_gui.core.aws.resources.dashboard import Dashboard

    original = Dashboard.ensure
    calls = {"n": 0}

    def flaky(self, ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "PutDashboard")
        return original(self, ctx)

    monkeypatch.setattr(Dashboard, "ensure", flaky)
    wizard = AwsSetupWizard(AppConfig(), session_factory, config_path=tmp_path / "c.toml", provisioner_kwargs=fast())
    qtbot.addWidget(wizard)
    wizard.identity = None
    wizard.names = default_names("wiz002")
    wizard.region = "us-east-1"
    provision = wizard.page_named("provision")
    provision.start()
    qtbot.waitUntil(lambda: provision.report is not None, timeout=30000)
    assert not provision.report.ok
    assert "✗" in provision.steps.labels["dashboard"].text() and "slow down" in provision.steps.labels["dashboard"].text()
    assert provision.retry_button.isEnabled() and not provision.isComplete()
    provision.retry_button.click()
    qtbot.waitUntil(lambda: provision.report is not None and provision.report.ok, timeout=30000)
    assert provision.report.adopted[:2] == ["table", "bucket"]
    assert provision.isComplete()


def test_a_provisioner_that_cannot_be_built_reports_on_the_page(qtbot, tmp_path, monkeypatch):
    """A bad region (or name) used to raise inside initializePage on the GUI thread, leaving
    the page 'working…' forever; now it is the job's result, shown with Run again."""
    wizard = AwsSetupWizard(AppConfig(), lambda profile, region: boto3.Session(region_name=region),
                            config_path=tmp_path / "c.toml", provisioner_kwargs=fast())
    qtbot.addWidget(wizard)
    wizard.names = default_names("wiz003")
    wizard.region = None  # no region anywhere (and none in the environment): no AWS call is made
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    provision = wizard.page_named("provision")
    provision.start()
    # The job's idle flag and the page's result are two queued events: wait for what the user sees.
    qtbot.waitUntil(lambda: not provision.job.running and "working" not in provision.status.text(), timeout=10000)
    assert "setup failed" in provision.status.text() and "region" in provision.status.text()
    assert provision.retry_button.isEnabled() and not provision.isComplete()
    review = wizard.page_named("review")
    review.initializePage()
    assert "Cannot plan the setup" in review.plan.toPlainText()


def test_a_job_outliving_its_page_does_not_raise_in_its_thread(qtbot):
    import shiboken6
    from PySide6.QtWidgets import QWidget

    from crowdmood_gui.ui.tasks import BackgroundJob

    owner = QWidget()
    job = BackgroundJob(owner)
    go, errors = threading.Event(), []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        job.start(lambda relay: go.wait(5) and "late")
        shiboken6.delete(owner)  # the page is gone before the worker answers
        go.set()
        job.thread.join(5)
    finally:
        threading.excepthook = old_hook
    assert not job.thread.is_alive() and errors == []

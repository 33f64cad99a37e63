"""The teardown dialog on its own (the whole setup-then-teardown run against moto is in
test_wizard.py): what it offers to delete, and a failure that leaves it ready to retry."""

from __future__ import annotations

from crowdmood_gui.core.aws.naming import default_names
from crowdmood_gui.core.aws.provision import StateFile
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import AwsError
from crowdmood_gui.ui.teardown_dialog import TeardownDialog


def no_session(profile, region):
    raise AwsError("no AWS credentials found: run aws configure")


def test_nothing_set_up_means_nothing_to_delete(qtbot):
    dialog = TeardownDialog(AppConfig(), no_session)
    qtbot.addWidget(dialog)
    assert "nothing to remove" in dialog.intro.text()
    assert not dialog.confirm.isEnabled() and not dialog.delete_button.isEnabled()
    dialog.start()  # a stray call does nothing
    assert not dialog.job.running and dialog.status.text() == ""


def test_the_one_recorded_deployment_is_offered_without_settings(qtbot):
    names = default_names("tear01")
    StateFile().add_created("eu-west-1", names, "bucket")
    dialog = TeardownDialog(AppConfig(), no_session)
    qtbot.addWidget(dialog)
    assert dialog.region == "eu-west-1" and dialog.names.bucket == names.bucket
    assert "in eu-west-1" in dialog.intro.text() and names.bucket in dialog.intro.text()
    assert not dialog.delete_button.isEnabled()  # not before the box is ticked
    dialog.confirm.setChecked(True)
    assert dialog.delete_button.isEnabled()


def test_a_failed_teardown_says_why_and_can_be_retried(qtbot):
    StateFile().add_created("eu-west-1", default_names("tear02"), "bucket")
    dialog = TeardownDialog(AppConfig(), no_session)
    qtbot.addWidget(dialog)
    dialog.confirm.setChecked(True)
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("teardown failed"), timeout=5000)
    assert "no AWS credentials found" in dialog.status.text()
    assert dialog.report is None and dialog.confirm.isEnabled()
    assert dialog.delete_button.isEnabled()  # press Delete again once the cause is fixed
    assert [key for key, label in dialog.steps.labels.items() if not label.text().startswith("○")] == []

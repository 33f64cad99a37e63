"""The resource protocol and the waits: botocore's waiters, polled one attempt at a time."""

from __future__ import annotations

import threading
from dataclasses import replace

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from crowdmood_gui.core.aws.config_writeback import apply_to_config
from crowdmood_gui.core.aws.naming import ResourceNames, default_names
from crowdmood_gui.core.aws.resources import BY_KEY, SETUP_ORDER, TEARDOWN_ORDER
from crowdmood_gui.core.aws.resources.base import Cancelled, StepContext, StepFailed
from crowdmood_gui.core.aws.resources.function import Function
from crowdmood_gui.core.config import AppConfig

from test_provision import SUFFIX, FakeClock, aws, make, package  # noqa: F401 - moto as AWS behaves, the zip fixture

NAMES = default_names("wait01")


def stubbed(service: str, **ctx_kwargs) -> tuple[StepContext, Stubber, FakeClock]:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    clock = FakeClock()
    ctx = StepContext(session, NAMES, sleep=clock.sleep, clock=clock, **ctx_kwargs)
    stubber = Stubber(ctx.client(service))
    stubber.activate()
    return ctx, stubber, clock


def table(status: str) -> dict:
    return {"Table": {"TableName": NAMES.table, "TableStatus": status}}


def test_a_waiter_polls_until_its_success_state(tmp_path):
    ctx, stubber, clock = stubbed("dynamodb")
    for status in ("CREATING", "CREATING", "ACTIVE"):
        stubber.add_response("describe_table", table(status), {"TableName": NAMES.table})
    ctx.wait_for("dynamodb", "table_exists", "the table", TableName=NAMES.table)
    stubber.assert_no_pending_responses()
    # Our pause between attempts (fake clock), never botocore's own 20 s sleep.
    assert clock.sleeps == [2.0, 2.0]


def test_a_waiter_retries_while_the_resource_is_not_there_yet():
    ctx, stubber, clock = stubbed("dynamodb")
    stubber.add_client_error("describe_table", "ResourceNotFoundException", "not yet")
    stubber.add_response("describe_table", table("ACTIVE"))
    ctx.wait_for("dynamodb", "table_exists", "the table", TableName=NAMES.table)
    assert clock.sleeps == [2.0]


def test_a_terminal_state_fails_the_step_with_the_reason_aws_gave():
    ctx, stubber, _ = stubbed("lambda")
    stubber.add_response("get_function_configuration", {"FunctionName": NAMES.function, "State": "Failed",
                                                        "StateReason": "the zip has no handler"})
    with pytest.raises(StepFailed, match=f"function {NAMES.function} failed: the zip has no handler"):
        Function()._wait_ready(ctx)


def test_a_function_whose_emulator_reports_no_state_is_ready():
    ctx, stubber, clock = stubbed("lambda")
    for _ in range(2):  # active? updated?
        stubber.add_response("get_function_configuration", {"FunctionName": NAMES.function})
    assert Function()._wait_ready(ctx)["FunctionName"] == NAMES.function
    stubber.assert_no_pending_responses()
    assert clock.sleeps == []


def test_a_pending_function_is_waited_for():
    ctx, stubber, clock = stubbed("lambda")
    for state in ("Pending", "Active"):
        stubber.add_response("get_function_configuration", {"FunctionName": NAMES.function, "State": state})
    stubber.add_response("get_function_configuration", {"FunctionName": NAMES.function, "LastUpdateStatus": "InProgress"})
    stubber.add_response("get_function_configuration", {"FunctionName": NAMES.function, "LastUpdateStatus": "Successful",
                                                        "CodeSha256": "abc"})
    assert Function()._wait_ready(ctx)["CodeSha256"] == "abc"  # the last answer is the configuration
    stubber.assert_no_pending_responses()
    assert clock.sleeps == [2.0, 2.0]


def test_an_unexpected_error_while_waiting_is_the_client_error_it_was():
    ctx, stubber, _ = stubbed("dynamodb")
    stubber.add_client_error("describe_table", "AccessDeniedException", "not allowed")
    with pytest.raises(ClientError) as caught:
        ctx.wait_for("dynamodb", "table_exists", "the table", TableName=NAMES.table)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_wait_is_bounded():
    ctx, stubber, clock = stubbed("dynamodb", wait_timeout_s=5)
    for _ in range(4):
        stubber.add_response("describe_table", table("CREATING"))
    with pytest.raises(StepFailed, match="timed out waiting for the table"):
        ctx.wait_for("dynamodb", "table_exists", "the table", TableName=NAMES.table)
    assert clock.now == 6.0


def test_cancel_interrupts_a_wait():
    cancel = threading.Event()
    ctx, stubber, clock = stubbed("dynamodb", cancel=cancel)
    stubber.add_response("describe_table", table("CREATING"))
    ctx.sleep = lambda seconds: cancel.set()  # the user presses Cancel during the pause
    with pytest.raises(Cancelled):
        ctx.wait_for("dynamodb", "table_exists", "the table", TableName=NAMES.table)
    stubber.assert_no_pending_responses()


def test_every_resource_describes_ensures_and_deletes_itself(aws, package):
    assert {r.key for r in SETUP_ORDER} - set(TEARDOWN_ORDER) == {"identity"}  # every made thing is deleted
    provisioner = make(aws, package)
    before = {r.key: r.describe(provisioner) for r in SETUP_ORDER}
    assert before.pop("identity")["Region"] == "us-east-1"
    assert before == dict.fromkeys(before)  # nothing there yet
    assert provisioner.run().ok
    ctx = make(aws, package)
    after = {r.key: r.describe(ctx) for r in SETUP_ORDER}
    assert all(after[key] is not None for key in TEARDOWN_ORDER), after
    assert after["table"]["TableName"] == default_names(SUFFIX).table
    for key in TEARDOWN_ORDER:
        assert BY_KEY[key].delete(ctx) is True, key
        assert BY_KEY[key].describe(ctx) is None, key
        assert BY_KEY[key].delete(ctx) is False, key  # already gone: "absent"


def test_the_names_and_the_aws_settings_are_one_model():
    names = replace(default_names("cfg001"), prefix="crops/", namespace="Booth")
    config = apply_to_config(AppConfig(), names, region="eu-west-1", profile=None, use_aws_backend=True)
    assert ResourceNames.from_config(config.aws) == names
    assert ResourceNames.from_config(AppConfig().aws) is None  # setup never ran

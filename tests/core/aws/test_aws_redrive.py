"""Redriving the failure queue: moto SQS, and a fake Lambda client (moto's ``invoke`` needs
Docker, which these machines do not have); one test validates the invoke request against
the real Lambda service model with a botocore Stubber."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from crowdmood_gui.core.aws import redrive
from crowdmood_gui.core.aws.naming import default_names
from crowdmood_gui.core.aws.provision import s3_put_event
from crowdmood_gui.core.errors import AwsError

NAMES = default_names("rd0001")
REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def sqs(moto_aws):
    return moto_aws.client("sqs")


@pytest.fixture
def queue(sqs) -> str:
    return sqs.create_queue(QueueName=NAMES.failure_queue)["QueueUrl"]


def failure_record(event: dict, function: str = NAMES.function) -> str:
    """An on-failure record as Lambda sends it to an SQS destination after the last retry."""
    return json.dumps({
        "version": "1.0",
        "timestamp": "2025-05-01T10:00:00.000Z",
        "requestContext": {
            "requestId": "5e4c7a1e-0000-4000-8000-000000000000",
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Rate exceeded", "errorType": "ThrottlingException"},
    })


def event_for(key: str) -> dict:
    return s3_put_event(REGION, NAMES.bucket, key, 1234, '"abc"')


class FakeLambda:
    """Records ``invoke`` calls; ``fail_keys``: S3 keys (as sent) whose invoke raises."""

    def __init__(self, fail_keys=(), code: str = "TooManyRequestsException"):
        self.calls: list[dict] = []
        self.fail_keys = set(fail_keys)
        self.code = code

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        event = json.loads(kwargs["Payload"])
        if event["Records"][0]["s3"]["object"]["key"] in self.fail_keys:
            raise ClientError({"Error": {"Code": self.code, "Message": "Rate exceeded"}}, "Invoke")
        return {"StatusCode": 202, "Payload": None}


def bodies_left(sqs, url: str) -> list[str]:
    """Every message still in the queue, visible at once (the redrive released what it kept)."""
    reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in reply.get("Messages", [])]


# --- parsing -------------------------------------------------------------------------


def test_a_failure_record_gives_back_the_original_s3_event():
    event = event_for("faces/s 1/c/0001.jpg")
    assert redrive.s3_event_from_failure_record(failure_record(event), NAMES.function) == event
    assert event["Records"][0]["s3"]["object"]["key"] == "faces/s+1/c/0001.jpg"  # still URL-encoded, as S3 sent it


@pytest.mark.parametrize("body,reason", [
    ("not json", "not JSON"),
    (json.dumps(["a"]), "no requestPayload"),
    (json.dumps({"Records": []}), "no requestPayload"),  # an S3 event sent to the queue directly
    (json.dumps({"requestPayload": {"Records": []}}), "no Records"),
    (json.dumps({"requestPayload": {"source": "aws.events"}}), "no Records"),
    (json.dumps({"requestPayload": {"Records": [{"eventSource": "aws:sqs"}]}}), "without 's3'"),
    (json.dumps({"requestPayload": "{not json"}), "not JSON"),
])
def test_malformed_records_are_refused_with_a_reason(body, reason):
    with pytest.raises(redrive.MalformedRecord, match=reason):
        redrive.s3_event_from_failure_record(body, NAMES.function)


def test_a_record_of_another_function_is_refused():
    body = failure_record(event_for("faces/a.jpg"), function="someone-else")
    with pytest.raises(redrive.MalformedRecord, match="another function .someone-else"):
        redrive.s3_event_from_failure_record(body, NAMES.function)
    assert redrive.s3_event_from_failure_record(body)["Records"]  # no function given: not checked


# --- redrive against moto SQS --------------------------------------------------------


def test_three_valid_and_one_malformed(sqs, queue):
    events = [event_for(f"faces/s/c/{i}.jpg") for i in range(3)]
    for event in events:
        sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event))
    sqs.send_message(QueueUrl=queue, MessageBody="garbage")
    lam = FakeLambda()
    lines: list[str] = []

    report = redrive.redrive(sqs, lam, queue, NAMES.function, log=lines.append)

    assert (report.redriven, report.failed, report.skipped) == (3, 0, 1)
    assert not report.ok and report.kept == 1
    assert all(c["FunctionName"] == NAMES.function and c["InvocationType"] == "Event" for c in lam.calls)
    sent = sorted((json.loads(c["Payload"]) for c in lam.calls), key=lambda e: e["Records"][0]["s3"]["object"]["key"])
    assert sent == events
    (reason,) = report.reasons
    assert "skipped (kept in the queue): not JSON" in reason and reason in lines
    assert "3 event(s) redriven, 0 failed, 1 skipped (1 kept in the queue)" == report.summary()
    # The three were deleted, the malformed one is still there and visible again right away.
    assert bodies_left(sqs, queue) == ["garbage"]


def test_an_invoke_failure_keeps_its_message(sqs, queue):
    for i in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event_for(f"faces/s/c/{i}.jpg")))
    lam = FakeLambda(fail_keys={"faces/s/c/1.jpg"})

    report = redrive.redrive(sqs, lam, queue, NAMES.function)

    assert (report.redriven, report.failed, report.skipped) == (2, 1, 0)
    assert len(lam.calls) == 3
    assert "faces/s/c/1.jpg" in report.reasons[0] and "TooManyRequestsException" in report.reasons[0]
    (left,) = bodies_left(sqs, queue)
    assert redrive.s3_event_from_failure_record(left)["Records"][0]["s3"]["object"]["key"] == "faces/s/c/1.jpg"


def test_access_denied_stops_the_run_and_keeps_everything(sqs, queue):
    for i in range(4):
        sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event_for(f"faces/s/c/{i}.jpg")))
    lam = FakeLambda(fail_keys={f"faces/s/c/{i}.jpg" for i in range(4)}, code="AccessDeniedException")
    with pytest.raises(AwsError, match="AccessDeniedException"):
        redrive.redrive(sqs, lam, queue, NAMES.function)
    assert len(lam.calls) == 1  # not once per message
    assert len(bodies_left(sqs, queue)) == 4


def test_limit_redrives_at_most_n(sqs, queue):
    for i in range(5):
        sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event_for(f"faces/s/c/{i}.jpg")))
    report = redrive.redrive(sqs, FakeLambda(), queue, NAMES.function, limit=2)
    assert report.redriven == 2 and report.ok
    assert redrive.messages_waiting(sqs, queue) == 3


def test_empty_queue_is_a_no_op(sqs, queue):
    lam = FakeLambda()
    report = redrive.redrive(sqs, lam, queue, NAMES.function)
    assert report.ok and report.redriven == 0 and lam.calls == []


def test_missing_queue_says_to_run_setup(sqs):
    with pytest.raises(AwsError, match=f"{NAMES.failure_queue} does not exist: run crowdmood setup"):
        redrive.failure_queue_url(sqs, NAMES.failure_queue)


def test_invoke_request_matches_the_lambda_api(sqs, queue):
    """The real service model checks the request: name, async invocation, payload bytes."""
    event = event_for("faces/s/c/0.jpg")
    sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event))
    lam = boto3.client("lambda", region_name=REGION)
    with Stubber(lam) as stubber:
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": NAMES.function, "InvocationType": "Event", "Payload": json.dumps(event).encode("utf-8")},
        )
        report = redrive.redrive(sqs, lam, queue, NAMES.function)
        stubber.assert_no_pending_responses()
    assert report.redriven == 1 and bodies_left(sqs, queue) == []


def test_a_non_202_answer_is_a_failure(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event_for("faces/s/c/0.jpg")))
    lam = boto3.client("lambda", region_name=REGION)
    with Stubber(lam) as stubber:
        stubber.add_response("invoke", {"StatusCode": 200})
        report = redrive.redrive(sqs, lam, queue, NAMES.function)
    assert report.failed == 1 and "not 202" in report.reasons[0]
    assert len(bodies_left(sqs, queue)) == 1


def test_the_redriven_event_is_one_the_handler_parses(sqs, queue):
    """What the function receives again is what S3 sent: the handler's parser finds the crop."""
    import s3_event  # crowdmood_gui/lambda_function/s3_event.py (on sys.path via conftest)
    sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event_for("faces/s 1/c/0001.jpg")))
    lam = FakeLambda()
    assert redrive.redrive(sqs, lam, queue, NAMES.function).redriven == 1
    (obj,) = list(s3_event.iter_objects(json.loads(lam.calls[0]["Payload"])))
    assert (obj.bucket, obj.key) == (NAMES.bucket, "faces/s 1/c/0001.jpg")


def test_an_event_that_fails_again_during_the_run_is_kept_not_looped(sqs, queue):
    event = event_for("faces/s/c/again.jpg")
    sqs.send_message(QueueUrl=queue, MessageBody=failure_record(event))

    class FailsAgain(FakeLambda):
        """The redriven event fails again at once: Lambda puts a new failure record in the queue."""

        def invoke(self, **kwargs):
            reply = super().invoke(**kwargs)
            sqs.send_message(QueueUrl=queue, MessageBody=failure_record(json.loads(kwargs["Payload"])))
            return reply

    lam = FailsAgain()
    report = redrive.redrive(sqs, lam, queue, NAMES.function)
    assert len(lam.calls) == 1  # not re-invoked in a loop
    assert (report.redriven, report.failed, report.skipped) == (1, 1, 0)
    assert "failed again after being redriven in this run" in report.reasons[0]
    assert [json.loads(b)["requestPayload"] for b in bodies_left(sqs, queue)] == [event]


def test_a_receive_of_only_kept_messages_does_not_end_the_run(queue):
    """Past the visibility timeout, kept messages come back; the run goes on to the others."""
    kept_body = "garbage"
    good = failure_record(event_for("faces/s/c/late.jpg"))

    class ScriptedSqs:
        def __init__(self):
            self.replies = [
                [{"MessageId": "m1", "ReceiptHandle": "h1", "Body": kept_body}],
                [{"MessageId": "m1", "ReceiptHandle": "h1b", "Body": kept_body}],  # back: only it
                [{"MessageId": "m2", "ReceiptHandle": "h2", "Body": good}],
                [],
            ]
            self.deleted, self.released = [], []

        def receive_message(self, **_kw):
            return {"Messages": self.replies.pop(0)}

        def delete_message(self, ReceiptHandle, **_kw):
            self.deleted.append(ReceiptHandle)

        def change_message_visibility_batch(self, Entries, **_kw):
            self.released += [e["ReceiptHandle"] for e in Entries]
            return {"Successful": [], "Failed": [{"Id": "0", "Code": "ReceiptHandleIsInvalid", "Message": "gone"}]}

    fake, lines = ScriptedSqs(), []
    report = redrive.redrive(fake, FakeLambda(), queue, NAMES.function, log=lines.append)
    assert (report.redriven, report.skipped) == (1, 1)
    assert fake.deleted == ["h2"] and fake.released == ["h1b"]  # the newest handle of the kept one
    assert any("1 kept message(s) stay hidden" in line and "ReceiptHandleIsInvalid" in line for line in lines)

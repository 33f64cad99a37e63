"""End to end in a real emulator (issue #14): a crop put into S3 -> ministack's bucket
notification -> the deployed Lambda zip (run by ministack as a local process) -> DynamoDB
and CloudWatch; a malformed record beside a good one in the same invocation is a logged
skip, and the good one is written and ``sent``, not left ``pending``.

ministack 1.5.33 pins botocore exactly, so it gets its own virtualenv (made once, from
PyPI, under ``.cache/ministack-venv`` in the checkout, with the boto3 matching its botocore
for the function's runtime; ``CROWDMOOD_MINISTACK_VENV`` points elsewhere). It binds 127.0.0.1 only. It has no Rekognition: the function's
``AWS_ENDPOINT_URL_REKOGNITION`` points at a loopback server here that answers
``DetectFaces`` with a real-shaped response. Skipped (with the reason) when ministack
cannot be installed (no registry)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import venv
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from crowdmood_gui.core.aws.lambda_zip import build_lambda_zip
from crowdmood_gui.core.aws.provision import HANDLER, LAMBDA_RUNTIME
from crowdmood_gui.core.records import CaptureMeta, crop_key

ROOT = Path(__file__).resolve().parents[2]
MINISTACK = "ministack==1.5.33"
# The Lambda runtime ships boto3; ministack's worker runs the function with its own Python,
# so its venv gets the boto3 that matches the botocore ministack pins.
RUNTIME_EXTRAS = ("boto3",)
EVENTS = ROOT / "tests" / "lambda" / "events"
BUCKET = "crowdmood-e2e-faces"
TABLE = "rekognize-faces"
FUNCTION = "rekognize-emotions"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ministack_venv() -> Path:
    target = Path(os.environ.get("CROWDMOOD_MINISTACK_VENV") or ROOT / ".cache" / "ministack-venv")
    exe = target / "bin" / "ministack"
    if exe.exists() and list((target / "lib").glob("python*/site-packages/boto3")):
        return target
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    proc = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", MINISTACK, *RUNTIME_EXTRAS],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not exe.exists():
        pytest.skip(f"cannot install {MINISTACK} into its own venv: {proc.stderr.strip().splitlines()[-1:]}")
    return target


class _FakeRekognition(BaseHTTPRequestHandler):
    """``DetectFaces`` over the JSON protocol, answered with the recorded two-face response."""

    calls: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        type(self).calls.append({"target": target, "body": json.loads(body or b"{}")})
        reply = json.loads((EVENTS / "detect_faces_two_faces.json").read_text())
        reply.pop("ResponseMetadata", None)
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def ministack(tmp_path_factory):
    home = _ministack_venv()
    port = _free_port()
    rek = ThreadingHTTPServer(("127.0.0.1", 0), _FakeRekognition)
    threading.Thread(target=rek.serve_forever, daemon=True).start()
    log = tmp_path_factory.mktemp("ministack") / "ministack.log"
    env = dict(os.environ)
    env.update(BIND_HOST="127.0.0.1", GATEWAY_PORT=str(port), LAMBDA_EXECUTOR="local")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    with log.open("w") as out:
        proc = subprocess.Popen([str(home / "bin" / "ministack")], env=env, stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ministack did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield endpoint, f"http://127.0.0.1:{rek.server_address[1]}", log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        rek.shutdown()


def _clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    return {name: boto3.client(name, **kw) for name in ("s3", "dynamodb", "lambda", "iam", "cloudwatch")}


def _deploy(c, rekognition_endpoint):
    sys.path.insert(0, str(ROOT / "tests" / "lambda"))
    from aws_fixtures import create_faces_table

    c["s3"].create_bucket(Bucket=BUCKET)
    create_faces_table(c["dynamodb"], TABLE)
    role = c["iam"].create_role(RoleName="crowdmood-e2e", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    fn = c["lambda"].create_function(
        FunctionName=FUNCTION, Runtime=LAMBDA_RUNTIME, Handler=HANDLER, Role=role, Timeout=30,
        Code={"ZipFile": build_lambda_zip()},
        Environment={"Variables": {"FACES_TABLE": TABLE, "FACES_PREFIX": "faces/", "METRIC_NAMESPACE": "CrowdMoodE2E",
                                   "AWS_ENDPOINT_URL_REKOGNITION": rekognition_endpoint,
                                   "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                                   "AWS_DEFAULT_REGION": "us-east-1"}},
    )["FunctionArn"]
    c["s3"].put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "Id": "crowdmood-faces", "LambdaFunctionArn": fn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "faces/"}]}}}]})
    return fn


def _item(c, key):
    return c["dynamodb"].get_item(TableName=TABLE, Key={"s3key": {"S": key}}, ConsistentRead=True).get("Item")


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    return None


def test_a_crop_put_into_s3_reaches_dynamodb_through_the_deployed_lambda(ministack):
    endpoint, rekognition, log = ministack
    c = _clients(endpoint)
    _deploy(c, rekognition)
    from datetime import UTC, datetime

    meta = CaptureMeta("expo-e2e", "booth-1", datetime.now(UTC), 7)
    key = crop_key(meta)
    c["s3"].put_object(Bucket=BUCKET, Key=key, Body=(ROOT / "tests" / "data" / "single_face.jpg").read_bytes(),
                       ContentType="image/jpeg", Metadata=meta.to_s3_metadata())
    item = _wait_for(lambda: (_item(c, key) or {}).get("metrics_state", {}).get("S") == "sent" and _item(c, key))
    assert item, f"no item for {key}; ministack log:\n{log.read_text()[-3000:]}"
    assert item["session"]["S"] == "expo-e2e" and item["face_count"]["N"] == "2"
    assert any(call["target"].endswith("DetectFaces") and call["body"]["Image"]["S3Object"]["Name"] == key
               for call in _FakeRekognition.calls)

    # A malformed record beside a good one, in one invocation: a logged skip, the good one sent.
    meta2 = CaptureMeta("expo-e2e", "booth-1", datetime.now(UTC), 8)
    key2 = crop_key(meta2)
    c["s3"].put_object(Bucket=BUCKET, Key=key2, Body=b"\xff\xd8jpeg", Metadata=meta2.to_s3_metadata())
    _wait_for(lambda: _item(c, key2))  # the notification's own delivery
    c["dynamodb"].delete_item(TableName=TABLE, Key={"s3key": {"S": key2}})
    good = json.loads((EVENTS / "s3_put_duplicate.json").read_text())["Records"][0]
    good["s3"]["bucket"]["name"] = BUCKET
    good["s3"]["object"]["key"] = key2
    bad = json.loads(json.dumps(good))
    bad["s3"]["object"]["key"] = None
    reply = c["lambda"].invoke(FunctionName=FUNCTION, Payload=json.dumps({"Records": [bad, good]}).encode())
    payload = json.loads(reply["Payload"].read() or b"{}")
    assert "FunctionError" not in reply, payload
    assert payload["processed"] == 1 and [s["reason"] for s in payload["skipped"]] == ["unparsable"]
    assert _item(c, key2)["metrics_state"]["S"] == "sent"

"""Helpers shared by the Lambda tests and the console's AWS tests (moto + Stubber)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from crowdmood_gui.core.records import SESSION_INDEX

EVENTS = Path(__file__).parent / "events"
BUCKET = "crowdmood-faces-a1b2c3"
TABLE = "rekognize-faces"
NAMESPACE = "CrowdMood"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def detect_faces_response(name: str = "detect_faces_two_faces.json") -> dict[str, Any]:
    response = load_event(name)
    response.pop("ResponseMetadata", None)
    return response


def create_faces_table(ddb, name: str = TABLE) -> None:
    """The table as provisioning creates it: key s3key, GSI session/captured_at (ALL)."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "s3key", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "s3key", "AttributeType": "S"},
            {"AttributeName": "session", "AttributeType": "S"},
            {"AttributeName": "captured_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": SESSION_INDEX,
                "KeySchema": [
                    {"AttributeName": "session", "KeyType": "HASH"},
                    {"AttributeName": "captured_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def rekognition_stub() -> tuple[Any, Stubber]:
    """A real Rekognition client whose calls are answered by a Stubber (validated shapes)."""
    client = boto3.client("rekognition", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def expect_detect(stubber: Stubber, bucket: str, key: str, response: str | dict = "detect_faces_two_faces.json") -> None:
    body = detect_faces_response(response) if isinstance(response, str) else copy.deepcopy(response)
    stubber.add_response(
        "detect_faces",
        body,
        {"Image": {"S3Object": {"Bucket": bucket, "Name": key}}, "Attributes": ["ALL"]},
    )


class CallRecorder:
    """Records the parameters of every call of one operation on a real client (moto still answers)."""

    def __init__(self, client, operation: str) -> None:
        self.calls: list[dict[str, Any]] = []
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"provide-client-params.{service}.{operation}", self._record)

    def _record(self, params, **_kwargs):
        self.calls.append(copy.deepcopy(params))

    @property
    def datums(self) -> list[dict[str, Any]]:
        return [d for call in self.calls for d in call.get("MetricData", [])]


class MotoWorld:
    """moto S3 (bucket made), DynamoDB (faces table made) and CloudWatch, Rekognition through
    a Stubber, and the handler's ``Clients`` over them. Use inside ``mock_aws()``."""

    def __init__(self) -> None:
        from handler import Clients  # lambda/ is on sys.path only once a conftest ran

        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        self.cw = boto3.client("cloudwatch", region_name="us-east-1")
        self.rek, self.stub = rekognition_stub()
        self.s3.create_bucket(Bucket=BUCKET)
        create_faces_table(self.ddb)
        self.clients = Clients(s3=self.s3, dynamodb=self.ddb, cloudwatch=self.cw, rekognition=self.rek)

    def put_crop(self, key: str, meta) -> None:
        """A crop as the console uploads it (``meta``: a CaptureMeta, or None for none)."""
        self.s3.put_object(
            Bucket=BUCKET, Key=key, Body=b"\xff\xd8jpeg", ContentType="image/jpeg",
            Metadata=meta.to_s3_metadata() if meta else {},
        )

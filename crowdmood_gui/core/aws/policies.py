"""IAM documents: the Lambda's trust and least-privilege inline policy, and the minimal
policy the operator's own user needs to run the console against the stack.

No ``*FullAccess`` managed policy anywhere (the 2018 pipeline attached four of them).
"""

from __future__ import annotations

import json
from typing import Any

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.records import SESSION_INDEX

VERSION = "2012-10-17"


def bucket_arn(names: ResourceNames) -> str:
    return f"arn:aws:s3:::{names.bucket}"


def prefix_objects_arn(names: ResourceNames) -> str:
    return f"arn:aws:s3:::{names.bucket}/{names.prefix}*"


def table_arn(names: ResourceNames, region: str, account: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{names.table}"


def log_group_arn(names: ResourceNames, region: str, account: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{names.log_group}"


def failure_queue_arn(names: ResourceNames, region: str, account: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{names.failure_queue}"


def function_arn(names: ResourceNames, region: str, account: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{names.function}"


def lambda_trust_policy() -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def lambda_inline_policy(names: ResourceNames, region: str, account: str) -> dict[str, Any]:
    """What ``crowdmood_gui/lambda_function/handler.py`` does, and nothing more."""
    log_arn = log_group_arn(names, region, account)
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ReadFaceCrops",
                "Effect": "Allow",
                "Action": "s3:GetObject",  # also covers HeadObject (the capture metadata)
                "Resource": prefix_objects_arn(names),
            },
            {
                "Sid": "DetectFaces",
                "Effect": "Allow",
                "Action": "rekognition:DetectFaces",
                "Resource": "*",  # DetectFaces has no resource-level permissions
            },
            {
                # PutItem writes the crop's item (conditionally: idempotent under duplicate
                # deliveries); GetItem + UpdateItem are the handler's duplicate check and
                # its metrics_state bookkeeping. No Scan, Query or Delete.
                "Sid": "WriteFaceItems",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": table_arn(names, region, account),
            },
            {
                "Sid": "PutEmotionMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": names.namespace}},
            },
            {
                "Sid": "OwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_arn, f"{log_arn}:*"],
            },
            {
                # Lambda sends the on-failure record of an async invocation (retries
                # exhausted) with the function's own role: this queue only, send only.
                "Sid": "KeepFailedEvents",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": failure_queue_arn(names, region, account),
            },
        ],
    }


def operator_policy(names: ResourceNames, region: str, account: str) -> dict[str, Any]:
    """The console's and the booth agent's needs at run time (upload crops, send the booth
    heartbeat, read results and metrics, redrive failed analyses). Creating the stack is not in it: whoever runs ``crowdmood setup``
    needs the create/delete rights of every service involved."""
    table = table_arn(names, region, account)
    return {
        "Version": VERSION,
        "Statement": [
            {"Sid": "UploadCrops", "Effect": "Allow", "Action": "s3:PutObject", "Resource": prefix_objects_arn(names)},
            {
                "Sid": "ReadResults",
                "Effect": "Allow",
                "Action": "dynamodb:Query",
                "Resource": [table, f"{table}/index/{SESSION_INDEX}"],
            },
            # GetMetricData: the chart lines and the all-booths view; ListMetrics: which booths
            # exist (crowdmood booths). Neither has resource-level permissions.
            {"Sid": "ReadMetrics", "Effect": "Allow", "Action": ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"],
             "Resource": "*"},
            {
                # The booth heartbeat (core/aws/heartbeat.py): this namespace only.
                "Sid": "BoothHeartbeat",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": names.namespace}},
            },
            {"Sid": "WhoAmI", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
            {
                # ``crowdmood aws-redrive`` and setup's "failed analyses waiting" count. Kept
                # messages are made visible again at once (ChangeMessageVisibility).
                "Sid": "RedriveFailedAnalyses",
                "Effect": "Allow",
                "Action": [
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": failure_queue_arn(names, region, account),
            },
            {
                "Sid": "ReinvokeFailedAnalyses",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": function_arn(names, region, account),
            },
        ],
    }


def operator_policy_json(names: ResourceNames, region: str, account: str) -> str:
    return json.dumps(operator_policy(names, region, account), indent=2)


def normalise(document: Any) -> Any:
    """Policy documents as IAM returns them (a dict or URL-encoded JSON) -> comparable dict."""
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            document = json.loads(unquote(document))

    def norm(value):
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            return items[0] if len(items) == 1 else sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return norm(document)

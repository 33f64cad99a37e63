"""The S3 bucket the console uploads crops to: private, encrypted, TLS only, crops expire."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws import policies
from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, StepFailed, error_code, http_status, not_found

LIFECYCLE_RULE_ID = "crowdmood-expire-faces"
TLS_STATEMENT_SID = "DenyInsecureTransport"
PUBLIC_ACCESS_BLOCK = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
EMULATOR_TLS_NOTE = ("S3 endpoint {url} is plain HTTP (an emulator): the TLS-only bucket policy is left out, "
                     "because it would refuse every upload and teardown over HTTP (403)")


def plain_http_endpoint(s3_client: Any) -> str | None:
    """The S3 endpoint when it is plain ``http://`` (an emulator through ``AWS_ENDPOINT_URL``),
    else None. Over plain HTTP the TLS-only bucket policy would refuse every request the
    console and teardown make (403), so setup leaves it out there and says so."""
    url = str(getattr(getattr(s3_client, "meta", None), "endpoint_url", "") or "")
    return url if url.lower().startswith("http://") else None


def tls_only_statement(names: ResourceNames) -> dict[str, Any]:
    arn = policies.bucket_arn(names)
    return {
        "Sid": TLS_STATEMENT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _lifecycle_matches(rule: dict[str, Any], wanted: dict[str, Any]) -> bool:
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix"))
    return (
        rule.get("Status") == "Enabled"
        and prefix == wanted["Filter"]["Prefix"]
        and (rule.get("Expiration") or {}).get("Days") == wanted["Expiration"]["Days"]
    )


def _get_or(call, missing_code: str, default: Any) -> Any:
    """``call()``, or ``default`` when S3 answers that the setting is not there."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) != missing_code:
            raise
        return default


def _region(s3: Any, bucket: str) -> str:
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if location == "EU" else location  # the legacy name of eu-west-1


class Bucket:
    key = "bucket"
    title = "S3 bucket"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.bucket

    def plan(self, ctx: StepContext) -> PlannedResource:
        n = ctx.names
        return PlannedResource(self.key, "S3 bucket", n.bucket,
                               f"private, encrypted (SSE-S3), TLS only, '{n.prefix}' expires after {ctx.expiry_days} day(s)")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        """The bucket's region when this account owns it; None when absent."""
        s3 = ctx.client("s3")
        bucket = ctx.names.bucket
        try:
            s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=ctx.ensure_account())
        except ClientError as exc:
            if http_status(exc) == 403 or error_code(exc) in ("403", "AccessDenied", "Forbidden"):
                raise StepFailed(f"bucket name '{bucket}' is taken by another AWS account: choose another suffix") from None
            if not not_found(exc):
                raise
            return None
        return {"Bucket": bucket, "Region": _region(s3, bucket)}

    def ensure(self, ctx: StepContext) -> Outcome:
        s3 = ctx.client("s3")
        n = ctx.names
        changes: list[str] = []
        status = "adopted"
        current = self.describe(ctx)
        if current is None:
            kwargs: dict[str, Any] = {"Bucket": n.bucket}
            if ctx.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
            try:
                s3.create_bucket(**kwargs)
                ctx.made(self.key)
                status = "created"
            except ClientError as exc:
                if error_code(exc) == "BucketAlreadyExists":
                    raise StepFailed(f"bucket name '{n.bucket}' is taken (bucket names are global): choose another suffix") from None
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
            ctx.wait_for("s3", "bucket_exists", f"bucket {n.bucket} to exist", Bucket=n.bucket)
            current = {"Bucket": n.bucket, "Region": _region(s3, n.bucket)}
        if current["Region"] != ctx.region:
            raise StepFailed(f"bucket '{n.bucket}' is in {current['Region']}, not {ctx.region}: choose another name or region")

        block = _get_or(lambda: s3.get_public_access_block(Bucket=n.bucket)["PublicAccessBlockConfiguration"],
                        "NoSuchPublicAccessBlockConfiguration", {})
        if any(block.get(k) is not True for k in PUBLIC_ACCESS_BLOCK):
            s3.put_public_access_block(Bucket=n.bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
            changes.append("public access blocked")

        rules = _get_or(lambda: s3.get_bucket_encryption(Bucket=n.bucket)["ServerSideEncryptionConfiguration"]["Rules"],
                        "ServerSideEncryptionConfigurationNotFoundError", [])
        algorithms = {(r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules}
        if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            s3.put_bucket_encryption(
                Bucket=n.bucket,
                ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            )
            changes.append("default encryption (SSE-S3)")

        lifecycle = _get_or(lambda: s3.get_bucket_lifecycle_configuration(Bucket=n.bucket)["Rules"], "NoSuchLifecycleConfiguration", [])
        wanted_rule = {
            "ID": LIFECYCLE_RULE_ID,
            "Filter": {"Prefix": n.prefix},
            "Status": "Enabled",
            "Expiration": {"Days": ctx.expiry_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        ours = next((r for r in lifecycle if r.get("ID") == LIFECYCLE_RULE_ID), None)
        if ours is None or not _lifecycle_matches(ours, wanted_rule):
            others = [r for r in lifecycle if r.get("ID") != LIFECYCLE_RULE_ID]
            s3.put_bucket_lifecycle_configuration(Bucket=n.bucket, LifecycleConfiguration={"Rules": others + [wanted_rule]})
            changes.append(f"'{n.prefix}' expires after {ctx.expiry_days} day(s)")

        changes += self._ensure_policy(ctx)
        return Outcome(status, changes if status == "adopted" else [])

    def _ensure_policy(self, ctx: StepContext) -> list[str]:
        s3 = ctx.client("s3")
        n = ctx.names
        doc = _get_or(lambda: json.loads(s3.get_bucket_policy(Bucket=n.bucket)["Policy"]), "NoSuchBucketPolicy",
                      {"Version": policies.VERSION, "Statement": []})
        statements = doc.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        insecure = plain_http_endpoint(s3)
        if insecure:
            ctx.log(EMULATOR_TLS_NOTE.format(url=insecure))
            if not any(s.get("Sid") == TLS_STATEMENT_SID for s in statements):
                return []
            others = [s for s in statements if s.get("Sid") != TLS_STATEMENT_SID]
            if others:
                s3.put_bucket_policy(Bucket=n.bucket, Policy=json.dumps({**doc, "Statement": others}))
            else:
                s3.delete_bucket_policy(Bucket=n.bucket)
            return ["TLS-only bucket policy removed (plain-HTTP endpoint)"]
        wanted = tls_only_statement(n)
        ours = next((s for s in statements if s.get("Sid") == TLS_STATEMENT_SID), None)
        if ours is not None and policies.normalise(ours) == policies.normalise(wanted):
            return []
        doc["Statement"] = [s for s in statements if s.get("Sid") != TLS_STATEMENT_SID] + [wanted]
        doc.setdefault("Version", policies.VERSION)
        s3.put_bucket_policy(Bucket=n.bucket, Policy=json.dumps(doc))
        return ["TLS-only bucket policy"]

    def delete(self, ctx: StepContext) -> bool:
        s3 = ctx.client("s3")
        bucket = ctx.names.bucket
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if not_found(exc):
                return False
            raise
        insecure = plain_http_endpoint(s3)
        if insecure:
            # A bucket made by an older setup over HTTP carries the TLS-only Deny: drop it
            # first, or every delete below is refused with 403.
            try:
                doc = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
                if any(s.get("Sid") == TLS_STATEMENT_SID for s in doc.get("Statement") or []):
                    s3.delete_bucket_policy(Bucket=bucket)
                    ctx.log(f"removed the TLS-only bucket policy of {bucket}: {insecure} is plain HTTP")
            except ClientError as exc:
                if error_code(exc) != "NoSuchBucketPolicy":
                    if http_status(exc) == 403 or error_code(exc) == "AccessDenied":
                        raise StepFailed(
                            f"bucket {bucket} has the TLS-only policy, which refuses every request over plain "
                            f"HTTP ({insecure}): delete it over HTTPS, or reset the emulator") from None
                    raise
        ctx.log(f"emptying bucket {bucket} (all object versions)…")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            _delete_objects(s3, bucket, batch)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            _delete_objects(s3, bucket, [{"Key": o["Key"]} for o in page.get("Contents", [])])
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        s3.delete_bucket(Bucket=bucket)
        return True


def _delete_objects(s3: Any, bucket: str, objects: list[dict[str, str]]) -> None:
    for start in range(0, len(objects), 1000):
        reply = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True})
        errors = reply.get("Errors") or []
        if errors:
            first = errors[0]
            raise StepFailed(f"{len(errors)} object(s) could not be deleted (e.g. {first.get('Key')}: {first.get('Code')})")

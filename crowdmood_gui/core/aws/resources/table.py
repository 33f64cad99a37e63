"""The DynamoDB table of analysed crops: key ``s3key``, the session index, on-demand, TTL."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, StepFailed, error_code
from crowdmood_gui.core.records import SESSION_INDEX

SESSION_INDEX_DEFINITION: dict[str, Any] = {
    "IndexName": SESSION_INDEX,
    "KeySchema": [
        {"AttributeName": "session", "KeyType": "HASH"},
        {"AttributeName": "captured_at", "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "ALL"},
}
INDEX_ATTRIBUTES = [
    {"AttributeName": "session", "AttributeType": "S"},
    {"AttributeName": "captured_at", "AttributeType": "S"},
]


class Table:
    key = "table"
    title = "DynamoDB table"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.table

    def plan(self, ctx: StepContext) -> PlannedResource:
        return PlannedResource(self.key, "DynamoDB table", ctx.names.table, f"partition key s3key, index {SESSION_INDEX}, on-demand, TTL on 'ttl'")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            return ctx.client("dynamodb").describe_table(TableName=ctx.names.table)["Table"]
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return None

    def ensure(self, ctx: StepContext) -> Outcome:
        ddb = ctx.client("dynamodb")
        table = ctx.names.table
        changes: list[str] = []
        status = "adopted"
        if self.describe(ctx) is None:
            ddb.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "s3key", "AttributeType": "S"}, *INDEX_ATTRIBUTES],
                KeySchema=[{"AttributeName": "s3key", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                GlobalSecondaryIndexes=[SESSION_INDEX_DEFINITION],
                Tags=[{"Key": "crowdmood", "Value": "setup"}],
            )
            ctx.made(self.key)
            status = "created"
        desc = self._wait_active(ctx)
        keys = [(k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"]]
        if keys != [("s3key", "HASH")]:
            raise StepFailed(f"table '{table}' exists with another key schema {keys} (expected s3key): choose another name")
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != "PAY_PER_REQUEST":
            ddb.update_table(TableName=table, BillingMode="PAY_PER_REQUEST")
            changes.append("billing set to on-demand")
            desc = self._wait_active(ctx)
        gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes") or []}
        if SESSION_INDEX not in gsis:
            ddb.update_table(TableName=table, AttributeDefinitions=INDEX_ATTRIBUTES,
                             GlobalSecondaryIndexUpdates=[{"Create": SESSION_INDEX_DEFINITION}])
            changes.append(f"index {SESSION_INDEX} added")
            self._wait_active(ctx)
        else:
            gsi = gsis[SESSION_INDEX]
            gkeys = [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]]
            if gkeys != [("session", "HASH"), ("captured_at", "RANGE")] or gsi["Projection"]["ProjectionType"] != "ALL":
                raise StepFailed(f"table '{table}' has an index {SESSION_INDEX} with other keys: choose another table name")
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            if ttl.get("AttributeName") != "ttl":
                raise StepFailed(f"table '{table}' has TTL on '{ttl.get('AttributeName')}', not 'ttl': choose another name")
        else:
            ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
            if status == "adopted":
                changes.append("TTL enabled on 'ttl'")
        return Outcome(status, changes)

    def _wait_active(self, ctx: StepContext) -> dict[str, Any]:
        """The table ACTIVE (botocore's ``table_exists``), then its indexes ACTIVE too (no
        waiter covers an index being built)."""
        table = ctx.names.table
        holder = {"desc": ctx.wait_for("dynamodb", "table_exists", f"table {table} to become ACTIVE", TableName=table)["Table"]}

        def indexes_ready() -> bool:
            desc = holder["desc"]
            if desc.get("TableStatus") == "ACTIVE" and all(
                    g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in desc.get("GlobalSecondaryIndexes") or []):
                return True
            holder["desc"] = ctx.client("dynamodb").describe_table(TableName=table)["Table"]
            return False

        ctx.wait_until(f"the indexes of table {table} to become ACTIVE", indexes_ready)
        return holder["desc"]

    def delete(self, ctx: StepContext) -> bool:
        try:
            ctx.client("dynamodb").delete_table(TableName=ctx.names.table)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

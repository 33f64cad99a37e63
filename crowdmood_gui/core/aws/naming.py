"""Names of the AWS resources the setup creates, their defaults and their validation.

Defaults follow the 2018 pipeline's names (``rekognize-faces``, ``rekognize-emotions``) plus a
short unique suffix, so two booths or two people never collide and an old pipeline is
never adopted by accident. Each validator returns ``None`` when the name is fine, else one
sentence for the wizard's live validation.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, fields

from crowdmood_gui.core.config import AwsConfig
from crowdmood_gui.core.records import DEFAULT_NAMESPACE

DEFAULT_PREFIX = "faces/"
_SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_FUNCTION_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_ROLE_RE = re.compile(r"^[\w+=,.@-]+$")
_DASHBOARD_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_NAMESPACE_RE = re.compile(r"^[^:][A-Za-z0-9.\-_/#:]*$")


@dataclass(frozen=True)
class ResourceNames:
    bucket: str
    table: str
    function: str
    role: str
    dashboard: str
    namespace: str = DEFAULT_NAMESPACE
    prefix: str = DEFAULT_PREFIX

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def failure_queue(self) -> str:
        """The SQS queue that keeps the events the Lambda failed on (its on-failure destination).

        Derived, like the log group: a function name (<= 64 of [A-Za-z0-9_-]) plus
        ``-failed`` is always a valid queue name (<= 80 of the same characters).
        """
        return failure_queue_name(self.function)

    @property
    def policy_name(self) -> str:
        """The role's one inline policy."""
        return f"{self.role}-policy"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ResourceNames":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_config(cls, aws: AwsConfig) -> "ResourceNames | None":
        """The names the app's ``[aws]`` settings point at (None: setup never ran)."""
        if not aws.bucket or not aws.role:
            return None
        return cls(**{f.name: getattr(aws, f.name) for f in fields(cls)})

    def config_settings(self) -> dict[str, str]:
        """The ``[aws]`` settings that point the app at these resources (every field of
        this model is one of them, under the same name)."""
        return self.to_dict()


def failure_queue_name(function: str) -> str:
    """The failure queue of ``function`` (see :attr:`ResourceNames.failure_queue`)."""
    return f"{function}-failed"


def random_suffix() -> str:
    """Six lowercase hex characters: valid in every resource name."""
    return secrets.token_hex(3)


def default_names(suffix: str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> ResourceNames:
    suffix = (suffix or random_suffix()).lower()
    problem = validate_suffix(suffix)
    if problem:
        raise ValueError(problem)
    return ResourceNames(
        bucket=f"crowdmood-faces-{suffix}",
        table=f"rekognize-faces-{suffix}",
        function=f"rekognize-emotions-{suffix}",
        role=f"crowdmood-lambda-{suffix}",
        dashboard=f"crowdmood-{suffix}",
        namespace=namespace,
    )


def validate_suffix(suffix: str) -> str | None:
    if not _SUFFIX_RE.match(suffix or ""):
        return "suffix: 1-20 lowercase letters, digits or hyphens, not starting or ending with a hyphen"
    return None


def validate_bucket_name(name: str) -> str | None:
    """S3 general-purpose bucket naming rules (the subset that matters for our names)."""
    if not 3 <= len(name) <= 63:
        return "bucket name: 3 to 63 characters"
    if name != name.lower():
        return "bucket name: lowercase letters only"
    if "." in name:
        return "bucket name: no dots (they break TLS virtual-host addressing)"
    if not _BUCKET_RE.match(name):
        return "bucket name: only lowercase letters, digits and hyphens, starting and ending with a letter or digit"
    if "--" in name[:6] or name.startswith("xn--") or name.startswith("sthree-") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        return "bucket name: reserved prefix or suffix (xn--, sthree-, -s3alias, --ol-s3)"
    if re.fullmatch(r"\d+(\.\d+){3}", name):
        return "bucket name: must not look like an IP address"
    return None


def validate_table_name(name: str) -> str | None:
    if not 3 <= len(name) <= 255 or not _TABLE_RE.match(name):
        return "table name: 3 to 255 letters, digits, '_', '-' or '.'"
    return None


def validate_function_name(name: str) -> str | None:
    if not 1 <= len(name) <= 64 or not _FUNCTION_RE.match(name):
        return "function name: 1 to 64 letters, digits, '-' or '_'"
    return None


def validate_role_name(name: str) -> str | None:
    if not 1 <= len(name) <= 64 or not _ROLE_RE.match(name):
        return "role name: 1 to 64 letters, digits or +=,.@_-"
    if len(name) + len("-policy") > 128:
        return "role name: too long"
    return None


def validate_dashboard_name(name: str) -> str | None:
    if not 1 <= len(name) <= 255 or not _DASHBOARD_RE.match(name):
        return "dashboard name: 1 to 255 letters, digits, '-' or '_'"
    return None


def validate_namespace(name: str) -> str | None:
    if not 1 <= len(name) <= 255 or not _NAMESPACE_RE.match(name) or name.startswith("AWS/"):
        return "metric namespace: 1 to 255 characters, not starting with 'AWS/' or ':'"
    return None


VALIDATORS = {
    "bucket": validate_bucket_name,
    "table": validate_table_name,
    "function": validate_function_name,
    "role": validate_role_name,
    "dashboard": validate_dashboard_name,
    "namespace": validate_namespace,
}


def validate_names(names: ResourceNames) -> dict[str, str]:
    """Field -> message, for every invalid name (empty dict: all valid)."""
    problems = {}
    for field_name, check in VALIDATORS.items():
        message = check(getattr(names, field_name))
        if message:
            problems[field_name] = message
    if not names.prefix.endswith("/") or names.prefix.startswith("/"):
        problems["prefix"] = "prefix: must end with '/' and not start with one"
    return problems


# --- booth identity (camera and session names travel as S3 key parts and CloudWatch dimensions)

_CAMERA_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")
MAX_SESSION_CHARS = 128


def validate_camera_name(name: str) -> str | None:
    """A booth's camera name: its identity in S3 keys, DynamoDB items and metric dimensions,
    so it must come through every one of them unchanged (no escaping, no case folding)."""
    if not _CAMERA_RE.match(name or ""):
        return (f"camera name {name!r}: 1 to 64 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit (e.g. booth-a)")
    return None


def validate_session_name(name: str) -> str | None:
    """A session name: free text (the console accepts "séance 1"), but not blank, not too long
    for a metric dimension, and without control characters or '/' (an S3 key separator)."""
    text = name or ""
    if not text.strip():
        return "session name: must not be empty"
    if len(text) > MAX_SESSION_CHARS:
        return f"session name: at most {MAX_SESSION_CHARS} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in text) or "/" in text:
        return f"session name {text!r}: no control characters and no '/'"
    return None

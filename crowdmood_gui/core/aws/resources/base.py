"""The protocol every provisioned AWS resource follows, and the context its steps run in.

A resource is one module (``resources/table.py``…) with one object that can
:meth:`~Resource.ensure` itself (describe -> create or adopt -> compare -> update),
:meth:`~Resource.delete` itself and :meth:`~Resource.describe` what AWS holds now. The
:class:`~crowdmood_gui.core.aws.provision.Provisioner` walks an ordered list of them; it is
also the :class:`StepContext` they receive: the clients, the names, the log, cancel, the
state of what this run made, and the waits (botocore's waiters, polled one attempt at a
time so Cancel and the tests' fake clock still apply).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, NamedTuple, Protocol

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.waiter import NormalizedOperationMethod

from crowdmood_gui.core.aws.clients import client, error_code  # noqa: F401  (the resources import it from here)
from crowdmood_gui.core.aws.lambda_zip import build_lambda_zip
from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.state import StateFile
from crowdmood_gui.core.errors import CrowdMoodError


LOG_RETENTION_DAYS = 14


class Cancelled(CrowdMoodError):
    """The user pressed Cancel."""


class StepFailed(CrowdMoodError):
    """A step cannot converge; the message says what to do."""


class Outcome(NamedTuple):
    status: str  # created | adopted | checked
    changes: list[str]


class Resource(Protocol):
    """One AWS resource setup makes. ``key`` names it in the report and the state file."""

    key: str
    title: str

    def name(self, names: ResourceNames, region: str) -> str:
        """What the report calls it (its AWS name)."""

    def plan(self, ctx: "StepContext") -> PlannedResource | None:
        """What setup will make (None: a check, nothing is made)."""

    def describe(self, ctx: "StepContext") -> Any:
        """What AWS holds now (None: absent)."""

    def ensure(self, ctx: "StepContext") -> Outcome:
        """Create or adopt, then bring its settings to what the app needs."""

    def delete(self, ctx: "StepContext") -> bool:
        """Delete it; False when it was already absent."""


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def not_found(exc: ClientError) -> bool:
    """S3 says "absent" with a bare 404 on HEAD, and with a code elsewhere."""
    return http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchBucket", "NotFound")


class StepContext:
    """What a resource's steps need: clients, names, region, log, cancel, waits, state."""

    def __init__(
        self,
        session: boto3.Session,
        names: ResourceNames,
        *,
        log: Callable[[str], None] | None = None,
        on_step: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
        state: StateFile | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        package: bytes | None = None,
        expiry_days: int = 1,
        log_retention_days: int = LOG_RETENTION_DAYS,
        propagation_timeout_s: float = 90.0,
        wait_timeout_s: float = 300.0,
    ):
        self.session = session
        self.names = names
        self.region = session.region_name
        self.log = log or (lambda line: None)
        # Called with a step's result when it starts (status "running") and when it ends.
        self.on_step = on_step or (lambda result: None)
        self.cancel = cancel or threading.Event()
        self.state = state or StateFile()
        # Default wait: interruptible by Cancel. Tests inject a fake sleep + clock.
        self.sleep = sleep if sleep is not None else self.cancel.wait
        self.clock = clock
        self._package = package
        self.expiry_days = expiry_days
        self.log_retention_days = log_retention_days
        self.propagation_timeout_s = propagation_timeout_s
        self.wait_timeout_s = wait_timeout_s
        self.account: str | None = None
        self.role_arn: str | None = None
        self.function_arn: str | None = None
        self._clients: dict[str, Any] = {}
        self._run_made: list[str] = []

    def _c(self, service: str):
        if service not in self._clients:
            self._clients[service] = client(self.session, service)
        return self._clients[service]

    def client(self, service: str):
        """One client per service for the whole run (tests hook into ``_c``)."""
        return self._c(service)

    @property
    def package(self) -> bytes:
        if self._package is None:
            self._package = build_lambda_zip()
        return self._package

    def ensure_account(self) -> str:
        if self.account is None:
            self.account = self.client("sts").get_caller_identity()["Account"]
        return self.account

    def made(self, key: str) -> None:
        """Record a creation at once, so a step failing later in its settings still counts."""
        self._run_made.append(key)
        self.state.add_created(self.region, self.names, key, self.account)

    # waiting ------------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled by the user")

    def pause(self, seconds: float) -> None:
        self.check_cancel()
        self.sleep(seconds)
        self.check_cancel()

    def wait_until(self, what: str, ready: Callable[[], bool], *, timeout_s: float | None = None, every_s: float = 2.0) -> None:
        deadline = self.clock() + (timeout_s if timeout_s is not None else self.wait_timeout_s)
        while not ready():
            if self.clock() >= deadline:
                raise StepFailed(f"timed out waiting for {what}")
            self.pause(every_s)

    def wait_for(self, service: str, waiter_name: str, what: str, *, failure: Callable[[dict[str, Any]], str] | None = None,
                 unreported_is_ready: bool = False, **params: Any) -> dict[str, Any]:
        """Wait as botocore's waiter ``waiter_name`` does (its operation, its acceptors), but
        pausing ourselves between attempts, so Cancel interrupts the wait and tests' fake
        clock drives it. A failure state becomes :class:`StepFailed` (``failure(response)``
        says why; default: the acceptor's explanation); an AWS error no acceptor expects is
        raised as the :class:`ClientError` it was. ``unreported_is_ready``: an answer no
        acceptor matches (an emulator that leaves the field out) counts as ready. Returns the
        last answer (the resource's description when the operation is a describe)."""
        aws = self.client(service)
        config = aws.get_waiter(waiter_name).config
        operation = NormalizedOperationMethod(getattr(aws, xform_name(config.operation)))
        every_s = min(float(config.delay), 2.0)

        last: dict[str, Any] = {}

        def ready() -> bool:
            response = last["response"] = operation(**params)
            acceptor = next((a for a in config.acceptors if a.matcher_func(response)), None)
            if acceptor is None:
                if "Error" in response:
                    raise ClientError(response, config.operation)
                return unreported_is_ready
            if acceptor.state == "failure":
                raise StepFailed(failure(response) if failure else f"{what}: {acceptor.explanation}")
            return acceptor.state == "success"

        self.wait_until(what, ready, every_s=every_s)
        return last["response"]

    def retry_role_propagation(self, call: Callable[[], Any], *, symptom: str = "assume") -> Any:
        """IAM is eventually consistent: a new role 'cannot be assumed' for a few seconds, and
        a new policy statement is 'missing' (``symptom="sendmessage"``: "…does not have
        permissions to call SendMessage on SQS") for a few seconds."""
        deadline = self.clock() + self.propagation_timeout_s
        delay = 1.0
        while True:
            try:
                return call()
            except ClientError as exc:
                message = exc.response.get("Error", {}).get("Message", "")
                if error_code(exc) != "InvalidParameterValueException" or symptom not in message.lower():
                    raise
                if self.clock() + delay > deadline:
                    what = "the new IAM role is still not usable by Lambda" if symptom == "assume" else (
                        f"Lambda still finds the role lacking ({message})")
                    raise StepFailed(f"{what} after {self.propagation_timeout_s:.0f} s: run setup again in a minute") from None
                self.log(f"waiting {delay:.0f} s for the IAM role to propagate…")
                self.pause(delay)
                delay = min(delay * 2, 10.0)

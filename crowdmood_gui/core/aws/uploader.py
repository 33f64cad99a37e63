"""The uploader thread: drains the spool into S3, oldest first.

An item leaves the spool only after ``put_object`` succeeded. On failure the item stays
and the thread waits with exponential back-off and full jitter (``uniform(0, min(cap,
base * 2**n))``), on the stop event, so ``stop()`` is prompt even in the middle of a
back-off. Keys were fixed at spool time, so a put repeated after a crash or a lost
response rewrites the same object: each crop arrives in S3 exactly once, under one key
(the Lambda's conditional write absorbs the repeated notification).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws.clients import describe_aws_error, error_code
from crowdmood_gui.core.aws.spool import SpoolItem, UploadSpool
from crowdmood_gui.core.retry import backoff_delay

# Errors about this one object that no retry fixes: the item goes to the spool's bad/ and
# the queue moves on (before, one refused item was retried at the head of the queue forever).
PERMANENT_CODES = {
    "InvalidArgument", "EntityTooLarge", "KeyTooLongError", "InvalidDigest", "MetadataTooLarge",
    "AccessDenied", "InvalidRequest", "InvalidParameter", "InvalidParameterValue", "InvalidObjectName",
    "InvalidStorageClass", "InvalidTag", "InvalidEncryptionAlgorithmError", "KMS.DisabledException",
}
# After this many refusals in a row with AccessDenied and no success, S3 refuses *every*
# upload (credentials, a bucket policy): the items stay queued and the uploader backs off,
# instead of emptying the whole queue into bad/.
DENIED_IN_A_ROW_MEANS_ALL = 3


@dataclass(frozen=True, slots=True)
class UploaderStats:
    uploaded: int
    failures: int  # failed attempts so far
    consecutive_failures: int
    discarded: int
    last_error: str | None
    bytes_uploaded: int


class Uploader:
    def __init__(
        self,
        spool: UploadSpool,
        s3_client,
        bucket: str,
        *,
        on_error: Callable[[str], None] | None = None,
        on_uploaded: Callable[[SpoolItem], None] | None = None,
        base_backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
        server_side_encryption: str = "AES256",
    ) -> None:
        self.spool = spool
        self.s3 = s3_client
        self.bucket = bucket
        self.on_error = on_error or (lambda _msg: None)
        self.on_uploaded = on_uploaded or (lambda _item: None)
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.sse = server_side_encryption
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.uploaded = 0
        self.denied_in_a_row = 0  # AccessDenied refusals since the last success
        self.bytes_uploaded = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.discarded = 0
        self.last_error: str | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="crowdmood-uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Ask the thread to stop; True when it ended within the timeout. An upload in flight
        is not aborted: its item stays in the spool unless the put completes."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- work -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.spool.take()
            if item is None:
                self.spool.wait(0.5)
                continue
            try:
                ok = self.upload_one(item)
            except Exception as exc:  # never let a surprise end the uploader: keep the item
                self.spool.release(item)
                with self._lock:
                    self.failures += 1
                    self.consecutive_failures += 1
                self._report(f"upload to S3 failed unexpectedly ({type(exc).__name__}: {exc}); retrying")
                ok = False
            if not ok and not self._stop.is_set():
                self._stop.wait(backoff_delay(self.consecutive_failures, base_s=self.base_backoff_s, cap_s=self.max_backoff_s))

    def upload_one(self, item: SpoolItem) -> bool:
        """One attempt; the item is done, released (retry later) or discarded (permanent)."""
        try:
            body = item.read()
        except OSError as exc:
            self.spool.discard(item)
            self._report(f"upload spool: crop {item.name} is unreadable ({exc.strerror or exc}); moved to bad/")
            return True
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=item.key,
                Body=body,
                ContentType=item.content_type,
                Metadata=item.metadata,
                ServerSideEncryption=self.sse,
            )
        except (ClientError, BotoCoreError) as exc:
            from botocore.exceptions import ParamValidationError

            code = error_code(exc)
            if isinstance(exc, ParamValidationError):  # refused before sending: invalid parameters
                code = "ParamValidationError"
            with self._lock:
                self.failures += 1
                self.denied_in_a_row = self.denied_in_a_row + 1 if code == "AccessDenied" else 0
                everything_denied = self.denied_in_a_row > DENIED_IN_A_ROW_MEANS_ALL
            if (code in PERMANENT_CODES or code == "ParamValidationError") and not everything_denied:
                reason = f"S3 refused {item.key}: {code}: {describe_aws_error(exc)}"
                self.spool.discard(item, reason)
                with self._lock:
                    self.discarded += 1
                self._report(f"{reason}; moved to the spool's bad/ ({self.spool.directory / 'bad'}), "
                             "the other uploads go on")
                return True
            if everything_denied:
                exc_text = (f"S3 refuses every upload (AccessDenied): check the credentials and the bucket "
                            f"policy; {self.spool.depth()} crops wait in the spool")
                self.spool.release(item)
                with self._lock:
                    self.consecutive_failures += 1
                    first = self.consecutive_failures == 1
                if first or self.consecutive_failures % 10 == 0:
                    self._report(exc_text)
                return False
            self.spool.release(item)
            with self._lock:
                self.consecutive_failures += 1
                first = self.consecutive_failures == 1
            # One message per outage (and a reminder every 10 failures), not one per attempt.
            if first or self.consecutive_failures % 10 == 0:
                self._report(f"upload to S3 failed, retrying with back-off ({self.spool.depth()} waiting): {describe_aws_error(exc)}")
            return False
        self.spool.done(item)
        with self._lock:
            self.denied_in_a_row = 0
            self.uploaded += 1
            self.bytes_uploaded += len(body)
            self.consecutive_failures = 0
        self.on_uploaded(item)
        return True

    def _report(self, message: str) -> None:
        self.last_error = message
        try:
            self.on_error(message)
        except Exception:  # a sink must never kill the uploader
            pass

    def stats(self) -> UploaderStats:
        with self._lock:
            return UploaderStats(self.uploaded, self.failures, self.consecutive_failures, self.discarded,
                                 self.last_error, self.bytes_uploaded)

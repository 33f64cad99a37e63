"""Video input: parse a source spec, open it, and read frames on a capture thread.

Sources: a camera index (``"0"``), a video file, an ``rtsp://`` / ``rtsps://`` stream or an
``http(s)://`` MJPEG stream. Files and URLs go through OpenCV's FFMPEG backend.

The :class:`CaptureThread` opens the source *in the thread* (opening a URL can block for
tens of seconds), reports its state as :class:`~crowdmood_gui.core.events.SourceEvent` s
and hands frames to a :class:`FrameChannel`:

* ``realtime=True`` (live sources; files paced at their own fps so they look like a camera):
  the channel keeps only the newest frame; a slow consumer skips frames (counted in
  ``dropped``) instead of falling behind.
* ``realtime=False`` (analysis of a file): a bounded queue; the reader blocks when it is
  full, so every frame is processed (back-pressure).

Live streams that drop or fail to open are retried forever with exponential back-off
(1, 2, 4 … s up to ``reconnect_max_backoff_s``, with jitter) until ``stop_event`` is set.
No Qt here: the UI bridges the events to signals. Opening a URL over FFmpeg (RTSP over TCP,
then UDP) and asking a camera why it refused us live in ``core/stream_probe.py``.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal
from urllib.parse import urlsplit

import cv2
import numpy as np

from crowdmood_gui.core.cameras import open_camera, probe_camera_indices
from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.events import SourceEvent
from crowdmood_gui.core.frame_pool import FramePool
from crowdmood_gui.core.retry import backoff_delay
from crowdmood_gui.core.secrets import redact_url, reveal_url  # noqa: F401 - redact_url re-exported
from crowdmood_gui.core.stream_probe import (
    RTSP_TRANSPORTS,
    StreamRefused,
    not_opened_error,
    url_capture,
    worth_another_transport,
)

log = logging.getLogger(__name__)

SourceKind = Literal["camera", "file", "rtsp", "http"]
DEFAULT_FPS = 25.0  # when a container reports no usable frame rate
_MAX_SANE_FPS = 240.0


# --- source spec ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What the user typed, classified. Build it with :meth:`parse`."""

    text: str
    kind: SourceKind
    camera_index: int | None = None  # kind == "camera"
    path: Path | None = None  # kind == "file"
    url: str | None = None  # kind in ("rtsp", "http")

    @property
    def is_live(self) -> bool:
        return self.kind != "file"

    @property
    def display_name(self) -> str:
        """For messages and the UI: URLs with their password masked."""
        if self.kind == "camera":
            return f"camera {self.camera_index}"
        if self.kind == "file":
            return str(self.path)
        return redact_url(self.url or self.text)

    @classmethod
    def parse(cls, text: str) -> "SourceSpec":
        raw = (text or "").strip()
        if not raw:
            raise InputError("no video source given: expected a camera index, a video file or a URL")
        if raw.isdigit():
            return cls(text=raw, kind="camera", camera_index=int(raw))
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - a bad port or IPv6 literal raises here, not at open
        except ValueError as exc:
            raise InputError(f"invalid URL '{redact_url(raw)}': {exc}") from None
        scheme = parts.scheme.lower()
        # "C:\video.mp4" parses with scheme "c": a one-letter scheme is a Windows drive.
        if scheme and len(scheme) > 1:
            if scheme in ("rtsp", "rtsps"):
                kind: SourceKind = "rtsp"
            elif scheme in ("http", "https"):
                kind = "http"
            elif scheme == "file":
                return cls(text=raw, kind="file", path=Path(parts.path).expanduser())
            else:
                raise InputError(
                    f"unsupported source '{redact_url(raw)}': use a camera index, a video file, "
                    "rtsp://, rtsps://, http:// or https://"
                )
            if not parts.hostname:
                raise InputError(f"invalid URL '{redact_url(raw)}': no host name")
            return cls(text=raw, kind=kind, url=raw)
        return cls(text=raw, kind="file", path=Path(raw).expanduser())


# --- frames and sources ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    ``index`` counts frames delivered by the source (or the capture thread) from 0 and keeps
    increasing across loops and reconnects. ``media_time_s`` is the position in the file
    plus the loop offset (a looping file makes one continuous timeline), or seconds since
    the first frame for live sources.
    """

    index: int
    media_time_s: float
    captured_monotonic: float  # time.monotonic() when read: latency = now - this
    image: np.ndarray  # BGR uint8, H x W x 3
    loop: int = 0  # how many times a looping file restarted before this frame
    captured_wall: float = 0.0  # time.time() when read: the capture time of a live frame


class LiveClock:
    """The media time of a live source: seconds since its first frame was read.

    One clock is one timeline: the capture thread hands the same clock to every source it
    opens, so the time goes on across reconnects instead of starting again at 0.
    """

    def __init__(self) -> None:
        self._t0: float | None = None

    def media_time_s(self, captured_monotonic: float) -> float:
        if self._t0 is None:
            self._t0 = captured_monotonic
        return captured_monotonic - self._t0


def _sane_fps(value: float) -> float | None:
    return value if math.isfinite(value) and 0 < value <= _MAX_SANE_FPS else None


_IMAGE_MAGIC = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
}
_CONTAINER_MAGIC_AT_0 = (b"RIFF", b"\x1aE\xdf\xa3", b"FLV", b"OggS", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"\x30\x26\xb2\x75")
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def _looks_like_video_container(head: bytes) -> bool:
    return head.startswith(_CONTAINER_MAGIC_AT_0) or head[4:8] in _MP4_BOXES or (
        len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG-TS sync bytes
    )


def _image_kind(head: bytes) -> str | None:
    for magic, name in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return name
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    return None


class FrameSource:
    """An opened source. ``read()`` returns the next :class:`Frame`, or ``None`` at the end
    of a file (after the last loop) or when a live stream stopped delivering.

    Not thread-safe: one reader (the capture thread). Use :func:`open_source`.
    """

    def __init__(self, spec: SourceSpec, cap: cv2.VideoCapture, first: np.ndarray, *,
                 loop: bool, open_timeout_s: float, reopen: Callable[[], cv2.VideoCapture],
                 live_clock: LiveClock | None = None) -> None:
        self.spec = spec
        self.loop = loop and spec.kind == "file"
        self.open_timeout_s = open_timeout_s
        self._cap = cap
        self._reopen = reopen
        self._pending: np.ndarray | None = first
        self.height, self.width = first.shape[:2]
        reported = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float = _sane_fps(reported) or DEFAULT_FPS
        count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        self.frame_count: int | None = (
            int(count) if spec.kind == "file" and math.isfinite(count) and 0 < count < 1e9 else None
        )
        self.frames_read = 0  # frames delivered by read(), all loops
        self.loops = 0
        self._loop_frames = 0  # frames delivered in the current pass
        self._loop_offset_s = 0.0
        self._last_pos_s = -1.0  # media position (without loop offset) of the last frame
        self._live_clock = live_clock or LiveClock()
        self._closed = False
        self._pool = FramePool(first)

    @property
    def is_live(self) -> bool:
        return self.spec.is_live

    @property
    def duration_s(self) -> float | None:
        return self.frame_count / self.fps if self.frame_count else None

    @property
    def frames_in_pass(self) -> int:
        """Frames read since the file last (re)started: for 'read 36 of 72 frames'."""
        return self._loop_frames

    def _grab(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        buffer = self._pool.free()
        try:
            ok, image = self._cap.read(buffer) if buffer is not None else self._cap.read()
        except cv2.error as exc:  # a decoder error surfaced as an exception
            log.warning("read failed on %s: %s", self.spec.display_name, exc)
            return None
        if not (ok and image is not None and image.size):
            return None
        self._pool.decoded(image, buffer)
        return image

    def read(self) -> Frame | None:
        if self._closed:
            return None
        image = self._grab()
        if image is None and self.loop and self._loop_frames > 0:
            self._restart()
            image = self._grab()
        if image is None:
            return None
        now = time.monotonic()
        if self.spec.kind == "file":
            pos_s = self._file_position_s()
            media_t = self._loop_offset_s + pos_s
        else:
            media_t = self._live_clock.media_time_s(now)
        frame = Frame(index=self.frames_read, media_time_s=media_t, captured_monotonic=now,
                      image=image, loop=self.loops, captured_wall=time.time())
        self.frames_read += 1
        self._loop_frames += 1
        return frame

    def _file_position_s(self) -> float:
        # CAP_PROP_POS_MSEC is the timestamp of the frame just decoded (right for variable
        # frame rate files); use it only while it is finite and increasing, else last + 1/fps.
        if self._loop_frames == 0:
            pos = 0.0
        else:
            pos = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
            if not (math.isfinite(pos) and pos > self._last_pos_s):
                pos = self._last_pos_s + 1.0 / self.fps
        self._last_pos_s = pos
        return pos

    def _restart(self) -> None:
        """Loop: start the file again; media time goes on from the end of this pass."""
        self._loop_offset_s += self._last_pos_s + 1.0 / self.fps
        self._last_pos_s = -1.0
        self._loop_frames = 0
        self.loops += 1
        # Reopening is more robust than seeking to 0 (some codecs seek to the wrong key frame).
        self._cap.release()
        self._cap = self._reopen()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cap.release()
            self._pool.clear()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_file(path: Path) -> None:
    """Fail early, with a message a user can act on, before OpenCV says only 'false'."""
    if not path.exists():
        raise InputError(f"video file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a video file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise InputError(f"{path} is empty (0 bytes), not a video")
    image_kind = _image_kind(head)
    if image_kind:
        raise InputError(f"{path} is {image_kind}, not a video")


def _file_open_error(path: Path) -> InputError:
    with open(path, "rb") as fh:
        head = fh.read(512)
    if _looks_like_video_container(head):
        return InputError(f"{path} is corrupt or truncated: the video container cannot be read")
    return InputError(f"{path} is not a video file (unrecognised format)")


def open_source(spec: SourceSpec | str, *, loop: bool = False, open_timeout_s: float = 10.0,
                live_clock: LiveClock | None = None) -> FrameSource:
    """Open ``spec`` and decode its first frame (so width/height are known and a file that
    opens but cannot be decoded fails here). Blocks up to ``open_timeout_s`` for URLs:
    call it off the GUI thread. Raises :class:`InputError` with a one-line message.
    ``live_clock``: the timeline a live source's frames are stamped on (default: a new one)."""
    if isinstance(spec, str):
        spec = SourceSpec.parse(spec)
    timeout_text = f"{open_timeout_s:g} s"

    if spec.kind == "file":
        path = spec.path
        assert path is not None
        _check_file(path)

        def reopen() -> cv2.VideoCapture:
            return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)

        cap, first = _open_first_frame(
            reopen, lambda: _file_open_error(path), f"{path} is corrupt or truncated: no frame could be decoded")
        return FrameSource(spec, cap, first, loop=loop, open_timeout_s=open_timeout_s, reopen=reopen)

    if spec.kind == "camera":
        index = spec.camera_index
        assert index is not None

        def camera_error() -> InputError:
            found = probe_camera_indices()
            hint = f" (cameras found: {', '.join(map(str, found))})" if found else " (no camera found)"
            return InputError(f"no camera at index {index}{hint}")

        def reopen() -> cv2.VideoCapture:
            return open_camera(index)

        cap, first = _within(open_timeout_s, lambda: _open_first_frame(
            reopen, camera_error, f"camera {index} opened but sent no frame (is another program using it?)"),
            f"camera {index} did not answer within {timeout_text} (is another program using it?)")
        return FrameSource(spec, cap, first, loop=False, open_timeout_s=open_timeout_s, reopen=reopen,
                           live_clock=live_clock)

    assert spec.url is not None
    url = reveal_url(spec.url)  # a remembered URL's password comes from the OS keychain
    shown = spec.display_name

    started = time.monotonic()

    def cannot_connect() -> InputError:
        answered = time.monotonic() - started < open_timeout_s * 0.9
        return not_opened_error(url, shown, open_timeout_s, answered)

    transports: tuple[str | None, ...] = RTSP_TRANSPORTS if spec.kind == "rtsp" else (None,)
    for number, transport in enumerate(transports, start=1):

        def reopen(transport: str | None = transport) -> cv2.VideoCapture:
            return url_capture(url, open_timeout_s, transport)

        started = time.monotonic()
        try:
            cap, first = _open_first_frame(
                reopen, cannot_connect, f"connected to {shown} but received no frame within {timeout_text}")
        except InputError as exc:
            timed_out = time.monotonic() - started >= open_timeout_s * 0.9
            if number == len(transports) or not worth_another_transport(url, exc, timed_out):
                raise
            log.info("%s: not over RTSP/%s (%s); trying RTSP/%s", shown, transport.upper(), exc,
                     transports[number].upper())
            continue
        if transport is not None:
            log.info("%s: streaming over RTSP/%s", shown, transport.upper())
        return FrameSource(spec, cap, first, loop=False, open_timeout_s=open_timeout_s, reopen=reopen,
                           live_clock=live_clock)
    raise AssertionError("unreachable")  # the loop returns or raises


def video_duration_s(spec: SourceSpec | str) -> float | None:
    """Open a video file once, so that one that is missing, not a video or corrupt fails
    now (:class:`InputError`, one line) rather than minutes into an analysis, and say how
    long it lasts (``None`` when its container does not say)."""
    with open_source(spec) as source:
        return source.duration_s


def _within(timeout_s: float, open_it: Callable[[], tuple[cv2.VideoCapture, np.ndarray]],
            timeout_message: str) -> tuple[cv2.VideoCapture, np.ndarray]:
    """Run ``open_it`` (a camera driver's open and first read, which have no timeout of
    their own and can hang on a stuck device) for at most ``timeout_s``. A late result is
    released by its helper thread, never leaked."""
    outcome: dict[str, object] = {}
    lock = threading.Lock()

    def run() -> None:
        try:
            result = open_it()
        except BaseException as exc:  # handed to the caller below
            result, outcome["error"] = None, exc
        with lock:
            if outcome.get("abandoned"):
                if result is not None:
                    result[0].release()
                return
            outcome["result"] = result

    helper = threading.Thread(target=run, name="capture-open", daemon=True)
    helper.start()
    helper.join(max(0.1, timeout_s))
    with lock:
        if "result" not in outcome:
            outcome["abandoned"] = True
            log.warning("%s", timeout_message)
            raise InputError(timeout_message)
    if outcome.get("error") is not None:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def _open_first_frame(reopen: Callable[[], cv2.VideoCapture], cannot_open: Callable[[], InputError],
                      no_frame: str) -> tuple[cv2.VideoCapture, np.ndarray]:
    """Open a capture and decode its first frame, or raise. ``cannot_open`` builds the
    error only when needed (the camera's message probes the other indices)."""
    cap = reopen()
    if not cap.isOpened():
        cap.release()
        raise cannot_open()
    ok, first = _safe_read(cap)
    if not ok:
        cap.release()
        raise InputError(no_frame)
    return cap, first


def _safe_read(cap: cv2.VideoCapture) -> tuple[bool, np.ndarray | None]:
    try:
        ok, image = cap.read()
    except cv2.error:
        return False, None
    if not ok or image is None or not image.size:
        return False, None
    return True, image


def read_video_frames(path: Path | str, limit: int | None = None) -> list[np.ndarray]:
    """The frames of a video file (the first ``limit`` of them), decoded in memory: for the
    build and benchmark scripts and the tests that tile clips into crowds. Empty if unreadable."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames


# --- frame channel ---------------------------------------------------------------------


class FrameChannel:
    """Capture thread -> detection thread hand-over, thread-safe, two modes:

    * ``latest_only=True``: holds only the newest frame; ``put`` never blocks and replaces a
      frame nobody took (counted in ``dropped``): live video stays live under load.
    * ``latest_only=False``: a FIFO of at most ``maxsize`` frames; ``put`` blocks while it is
      full (back-pressure, every frame analysed).

    ``get(timeout)`` blocks until a frame newer than the last one taken is there; it returns
    ``None`` on timeout, or at once when the producer closed the channel and it is empty
    (``exhausted``).
    """

    def __init__(self, *, latest_only: bool = True, maxsize: int = 8) -> None:
        self.latest_only = latest_only
        self.maxsize = 1 if latest_only else max(1, maxsize)
        self._items: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.put_count = 0
        self.taken = 0
        self.dropped = 0

    def put(self, frame: Frame, stop_event: threading.Event | None = None) -> bool:
        """Offer a frame. False when the channel is closed or ``stop_event`` was set while
        waiting for room (queue mode)."""
        with self._cond:
            if self._closed:
                return False
            if self.latest_only:
                if self._items:
                    self._items.clear()
                    self.dropped += 1
            else:
                while len(self._items) >= self.maxsize and not self._closed:
                    if stop_event is not None and stop_event.is_set():
                        return False
                    self._cond.wait(0.1)
                if self._closed:
                    return False
            self._items.append(frame)
            self.put_count += 1
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame = self._items.popleft()
            self.taken += 1
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """The producer is done: wake every waiter. Frames already queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._items.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def exhausted(self) -> bool:
        """Closed and empty: no frame will ever come."""
        with self._cond:
            return self._closed and not self._items

    def qsize(self) -> int:
        with self._cond:
            return len(self._items)


# --- capture thread --------------------------------------------------------------------


class CaptureThread(threading.Thread):
    """Reads a source on its own daemon thread into :attr:`channel`.

    Events (``on_source_event``, called on this thread; keep it quick and thread-safe):
    ``opening`` -> ``open`` (width, height, fps) -> [``reconnecting`` (reason, next delay)
    -> ``open`` …] -> ``ended`` (end of file, or stopped) | ``failed`` (message).
    The channel is closed when the thread finishes, so the consumer sees ``exhausted``.
    """

    def __init__(
        self,
        spec: SourceSpec | str,
        *,
        loop: bool = False,
        realtime: bool = True,
        stop_event: threading.Event | None = None,
        on_source_event: Callable[[SourceEvent], None] | None = None,
        reconnect_max_backoff_s: float = 30.0,
        reconnect_initial_backoff_s: float = 1.0,
        open_timeout_s: float = 10.0,
        queue_size: int = 8,
        speed: float = 1.0,
        max_attempts: int | None = None,
        channel: FrameChannel | None = None,
    ) -> None:
        self.spec = spec if isinstance(spec, SourceSpec) else SourceSpec.parse(spec)
        super().__init__(name=f"capture-{self.spec.kind}", daemon=True)
        self.loop = loop
        self.realtime = realtime
        self.stop_event = stop_event or threading.Event()
        self.on_source_event = on_source_event
        self.reconnect_max_backoff_s = reconnect_max_backoff_s
        self.reconnect_initial_backoff_s = reconnect_initial_backoff_s
        self.open_timeout_s = open_timeout_s
        self.speed = speed if speed > 0 else 1.0
        self.max_attempts = max_attempts  # live sources: give up after this many failed opens
        self.channel = channel or FrameChannel(latest_only=realtime, maxsize=queue_size)
        self._resume = threading.Event()
        self._resume.set()
        self.frames_read = 0
        self.reconnects = 0
        self.width = 0
        self.height = 0
        self.fps = 0.0
        self.frame_count: int | None = None
        self.final_state: str | None = None  # "ended" | "failed" once finished
        self.error: str | None = None
        self._live_clock = LiveClock()  # one timeline across reconnects
        self._last_frame_at = 0.0

    # control -----------------------------------------------------------------------
    def stop(self) -> None:
        self.stop_event.set()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    # internals -----------------------------------------------------------------------
    def _emit(self, state: str, message: str = "", **kw) -> None:
        if self.on_source_event is None:
            return
        try:
            self.on_source_event(SourceEvent(state=state, message=message, **kw))
        except Exception:  # an observer bug must not kill capture
            log.exception("on_source_event failed")

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # never die silently
            log.exception("capture thread crashed")
            self._finish("failed", f"capture failed: {exc}".splitlines()[0])
        finally:
            self.channel.close()

    def _finish(self, state: str, message: str) -> None:
        if self.final_state is None:
            self.final_state = state
            if state == "failed":
                self.error = message
            self._emit(state, message)

    def _run(self) -> None:
        spec = self.spec
        attempt = 0
        self._emit("opening", spec.display_name)
        while not self.stop_event.is_set():
            try:
                source = open_source(spec, loop=self.loop, open_timeout_s=self.open_timeout_s,
                                     live_clock=self._live_clock)
            except InputError as exc:
                if not spec.is_live or isinstance(exc, StreamRefused):
                    log.warning("cannot open %s: %s", spec.display_name, exc)
                    self._finish("failed", str(exc))
                    return
                attempt += 1
                if self.max_attempts is not None and attempt >= self.max_attempts:
                    self._finish("failed", str(exc))
                    return
                if not self._wait_reconnect(str(exc), attempt - 1):
                    break
                continue
            if self.stop_event.is_set():
                source.close()
                break
            self.width, self.height, self.fps = source.width, source.height, source.fps
            self.frame_count = source.frame_count
            if spec.is_live and self.reconnects:
                log.warning("reconnected to %s (%d×%d)", spec.display_name, source.width, source.height)
            self._emit("open", spec.display_name, width=source.width, height=source.height, fps=source.fps)
            opened_at = time.monotonic()
            try:
                outcome = self._pump(source)
            finally:
                source.close()
            if outcome == "stopped":
                break
            if not spec.is_live:
                # A file that stops well short of its announced length is a failure the
                # user must hear about, even though every frame read so far is kept.
                truncated = self._truncation(source)
                if truncated:
                    self._finish("failed", truncated)
                else:
                    self._finish("ended", f"end of {source.spec.display_name} ({source.frames_read} frames)")
                return
            # A live stream dropped. Reset the back-off only after a stream that ran a while,
            # so a camera that accepts and drops at once is not hammered every second.
            if time.monotonic() - opened_at >= 10.0:
                attempt = 0
            attempt += 1
            silent_s = time.monotonic() - self._last_frame_at
            if silent_s >= self.open_timeout_s * 0.9:
                reason = f"lost {spec.display_name} (no frame within {self.open_timeout_s:g} s)"
            else:
                reason = f"lost {spec.display_name} (the stream was closed)"
            if not self._wait_reconnect(reason, attempt - 1):
                break
        self._finish("ended", "stopped")

    @staticmethod
    def _truncation(source: FrameSource) -> str | None:
        total = source.frame_count
        got = source.frames_in_pass
        if total and not source.loop and got < total * 0.95 and total - got > 2:
            return f"{source.spec.display_name}: read {got} of {total} frames (the file looks truncated)"
        return None

    def _wait_reconnect(self, reason: str, attempt: int) -> bool:
        """Report and wait; False when stopped during the wait."""
        delay = backoff_delay(attempt + 1, base_s=self.reconnect_initial_backoff_s,
                              cap_s=self.reconnect_max_backoff_s, jitter=0.2)
        self.reconnects += 1
        log.warning("%s; attempt %d failed, retrying in %.1f s", reason, attempt + 1, delay)
        self._emit("reconnecting", f"{reason}; retrying in {delay:.1f} s", attempt=attempt + 1, retry_in_s=delay)
        return not self.stop_event.wait(delay)

    def _pump(self, source: FrameSource) -> str:
        """Read until end, drop or stop: 'eof' | 'dropped' | 'stopped'."""
        stop = self.stop_event
        pace = self.realtime and not source.is_live
        origin: tuple[float, float] | None = None  # (monotonic, media time) pacing anchor
        self._last_frame_at = time.monotonic()
        while not stop.is_set():
            if self.paused:
                if source.is_live:
                    # Keep draining a live stream (else the server stalls or drops us).
                    if source.read() is None:
                        return "dropped"
                    self._last_frame_at = time.monotonic()
                    continue
                self._resume.wait(0.1)
                origin = None  # do not burst to catch up after a pause
                continue
            frame = source.read()
            if frame is None:
                return "eof" if not source.is_live else "dropped"
            self._last_frame_at = time.monotonic()
            if pace:
                if origin is None:
                    origin = (time.monotonic(), frame.media_time_s)
                target = origin[0] + (frame.media_time_s - origin[1]) / self.speed
                delay = target - time.monotonic()
                if delay > 0:
                    if stop.wait(delay):
                        return "stopped"
                elif delay < -0.5:  # fell far behind (slow disk, suspended): re-anchor
                    origin = (time.monotonic(), frame.media_time_s)
                # A paced file behaves like a camera: "captured" when it is due, not when decoded.
                frame = replace(frame, captured_monotonic=time.monotonic(), captured_wall=time.time())
            if source.is_live:  # its media time is on self._live_clock already
                frame = replace(frame, index=self.frames_read)
            if not self.channel.put(frame, stop):
                return "stopped"
            self.frames_read += 1
        return "stopped"

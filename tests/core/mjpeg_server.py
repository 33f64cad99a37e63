"""A tiny HTTP MJPEG camera for tests: ``multipart/x-mixed-replace`` JPEG frames on 127.0.0.1.

It plays a list of JPEG frames in a loop at ``fps`` (like an IP camera's ``/video`` URL).
``stop()`` closes the listening socket *and* drops the connected clients (a camera that
goes away mid-stream); ``start()`` again serves on the same port, so a reader's reconnect
finds it; ``frozen.set()`` keeps the connection open but sends nothing (a stalled camera). Also :class:`SilentServer`: accepts connections and never answers (a stream
that hangs on open, to exercise open timeouts).
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

BOUNDARY = "crowdmoodframe"


def jpeg_frames_from_video(path: str | Path, *, max_frames: int | None = None,
                           width: int | None = None, quality: int = 80) -> list[bytes]:
    """Decode a video and re-encode its frames as JPEG (optionally resized to ``width``)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames: list[bytes] = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, image = cap.read()
            if not ok:
                break
            if width is not None and image.shape[1] != width:
                height = round(image.shape[0] * width / image.shape[1])
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                frames.append(buf.tobytes())
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"no frame decoded from {path}")
    return frames


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class MjpegServer:
    """``with MjpegServer(frames) as cam: open(cam.url)``; ``cam.stop()`` / ``cam.start()``."""

    def __init__(self, frames: list[bytes], *, fps: float = 30.0, host: str = "127.0.0.1",
                 port: int = 0, path: str = "/video", credentials: tuple[str, str] | None = None) -> None:
        """``credentials``: (user, password) a client must send (HTTP Basic), else 401."""
        if not frames:
            raise ValueError("an MJPEG server needs at least one frame")
        self.frames = frames
        self.fps = fps
        self.host = host
        self.port = port
        self.path = path
        self.credentials = credentials
        self.refused = 0  # requests answered 401
        self.frames_sent = 0
        self.connections = 0
        self.frozen = threading.Event()  # set: keep connections open but send nothing
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> "MjpegServer":
        if self._server is not None:
            return self
        self._stopping.clear()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path.split("?")[0] != owner.path:
                    self.send_error(404)
                    return
                if owner.credentials is not None:
                    expected = "Basic " + base64.b64encode(":".join(owner.credentials).encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        owner.refused += 1
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                with owner._lock:
                    owner._clients.add(self.connection)
                    owner.connections += 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    period = 1.0 / owner.fps
                    next_at = time.monotonic()
                    i = 0
                    while not owner._stopping.is_set():
                        if owner.frozen.is_set():
                            owner._stopping.wait(0.05)
                            next_at = time.monotonic()
                            continue
                        jpeg = owner.frames[i % len(owner.frames)]
                        part = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                f"Content-Length: {len(jpeg)}\r\n\r\n").encode("ascii")
                        self.wfile.write(part + jpeg + b"\r\n")
                        self.wfile.flush()
                        owner.frames_sent += 1
                        i += 1
                        next_at += period
                        delay = next_at - time.monotonic()
                        if delay > 0:
                            owner._stopping.wait(delay)
                        else:
                            next_at = time.monotonic()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
                finally:
                    with owner._lock:
                        owner._clients.discard(self.connection)

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mjpeg-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and drop every client at once (the camera died)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(2.0)

    def __enter__(self) -> "MjpegServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SilentServer:
    """Accepts TCP connections and never sends a byte: an open that hangs."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.create_server((host, 0))
        self.host = host
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/video"

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._done.is_set():
            try:
                conn, _ = self._sock.accept()
                self._conns.append(conn)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join(1.0)
        for conn in self._conns:
            conn.close()
        self._sock.close()

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]

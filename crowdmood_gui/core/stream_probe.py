"""Why a network stream did not open, and opening one over FFmpeg: the URL side of capture.

OpenCV only says "not opened". These ask the camera itself: an HTTP GET or an RTSP DESCRIBE
(with Basic or Digest credentials from the URL) tells a wrong password (401), forbidden (403)
and no such path (404), which retrying cannot fix (:class:`StreamRefused`), from nothing
listening (connection refused: a rebooting camera comes back, so it is retried). RTSP is tried
over TCP, then UDP (:data:`RTSP_TRANSPORTS`). ``core/capture.py`` opens sources and reads frames.
"""

from __future__ import annotations

import logging
import os
import threading
from urllib.parse import urlsplit

import cv2

from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.secrets import redact_url

log = logging.getLogger(__name__)

FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# OpenCV's FFmpeg backend reads its options from this process-wide variable at each open:
# one open at a time sets it, opens, and puts the user's value back.
_ffmpeg_env_lock = threading.Lock()
# RTSP: TCP first (UDP loses packets on busy Wi-Fi and smears frames), then UDP (VLC and
# some cameras serve UDP only: a TCP SETUP is answered 461 Unsupported transport).
RTSP_TRANSPORTS = ("tcp", "udp")


def url_capture(url: str, timeout_s: float, transport: str | None = None) -> cv2.VideoCapture:
    """Open ``url`` with FFmpeg; ``transport`` ("tcp"/"udp") for RTSP, unless the user set
    ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` themselves (their options win)."""
    ms = int(max(0.1, timeout_s) * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    user_options = os.environ.get(FFMPEG_OPTIONS)
    if transport is None or user_options is not None:
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    with _ffmpeg_env_lock:
        os.environ[FFMPEG_OPTIONS] = f"rtsp_transport;{transport}"
        try:
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        finally:
            os.environ.pop(FFMPEG_OPTIONS, None)


_STATUS_REASONS = {
    403: "refused access (403 Forbidden)",
    404: "has no stream at this address (404 Not Found)",
}


class StreamRefused(InputError):
    """The camera answered and said no (wrong password, forbidden, no such path): retrying
    the same URL cannot help, and many cameras lock an account after repeated bad logins."""


def _auth_failure(shown: str, has_credentials: bool, status: int) -> str:
    if has_credentials:
        return f"wrong user name or password for {shown} (the camera answered {status} Unauthorized)"
    return f"{shown} needs a user name and password (the camera answered {status} Unauthorized): " \
           "put them in the URL, e.g. rtsp://user:password@host/path"


def probe_stream_refusal(url: str, timeout_s: float = 3.0) -> str | None:
    """Ask an HTTP or RTSP camera directly why it refused us, after OpenCV could only say
    'not opened': a wrong password (401), forbidden (403), no such path (404). ``None``
    when the camera does not answer or answers yes (the cause is elsewhere)."""
    parts = urlsplit(url)
    shown = redact_url(url)
    has_credentials = parts.username is not None
    try:
        if parts.scheme.lower() in ("rtsp", "rtsps"):
            status = _rtsp_describe_status(url, timeout_s)
        else:
            status = _http_status(url, timeout_s)
    except (OSError, ValueError) as exc:
        log.debug("probing %s: %s", shown, exc)
        return None
    if status == 401:
        return _auth_failure(shown, has_credentials, status)
    if status in _STATUS_REASONS:
        return f"{shown} {_STATUS_REASONS[status]}"
    return None


def not_opened_error(url: str, shown: str, open_timeout_s: float, answered: bool) -> InputError:
    """The one-line error for a URL OpenCV did not open. ``answered``: the open failed before
    its timeout, so the camera is worth asking why (one that let the open time out will not
    answer a probe either)."""
    refusal = probe_stream_refusal(url, min(open_timeout_s, 3.0)) if answered else None
    if refusal:
        return StreamRefused(refusal)
    if answered and _connection_refused(url):
        return InputError(f"could not connect to {shown}: connection refused (is the camera on, "
                          "and are the address and port right?)")
    if answered:
        return InputError(f"{shown} answered but sent no video it could read (check the path and the stream's format)")
    return InputError(f"could not connect to {shown} within {open_timeout_s:g} s")


def worth_another_transport(url: str, error: InputError, timed_out: bool) -> bool:
    """After RTSP over one transport failed with ``error``: is the next one worth a try? Not
    when the camera refused us, when the user set FFmpeg's options themselves, or when a
    host that let the open time out does not answer RTSP at all (it will not over UDP either)."""
    if isinstance(error, StreamRefused) or FFMPEG_OPTIONS in os.environ:
        return False
    return not (timed_out and not _rtsp_answers(url))


def _connection_refused(url: str, timeout_s: float = 1.0) -> bool:
    """Nothing listens at the URL's host and port (retrying may still help: a rebooting camera)."""
    import socket

    parts = urlsplit(url)
    default = 554 if parts.scheme.lower().startswith("rtsp") else 443 if parts.scheme.lower() == "https" else 80
    try:
        with socket.create_connection((parts.hostname, parts.port or default), timeout=timeout_s):
            return False
    except ConnectionRefusedError:
        return True
    except (OSError, ValueError):
        return False


def _http_status(url: str, timeout_s: float) -> int | None:
    import urllib.error
    import urllib.request
    from urllib.parse import unquote, urlunsplit

    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    handlers: list = []
    if parts.username is not None:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, bare, unquote(parts.username), unquote(parts.password or ""))
        handlers = [urllib.request.HTTPBasicAuthHandler(passwords), urllib.request.HTTPDigestAuthHandler(passwords)]
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(urllib.request.Request(bare, method="GET"), timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _rtsp_answers(url: str, timeout_s: float = 2.0) -> bool:
    """The RTSP server answers at all (a slow server, not a dead host: worth trying UDP)."""
    try:
        return _rtsp_describe_status(url, timeout_s) is not None
    except (OSError, ValueError):
        return False


def _rtsp_describe_status(url: str, timeout_s: float) -> int | None:
    """DESCRIBE over RTSP/1.0; on 401 with credentials in the URL, once more with them
    (Basic or Digest, as the server asks). Returns the final status code."""
    import base64
    import hashlib
    import re
    import socket
    from urllib.parse import unquote, urlunsplit

    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 554
    if not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    bare = urlunsplit(("rtsp", f"{netloc}:{port}", parts.path or "/", parts.query, ""))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password or "")

    def ask(sock: socket.socket, cseq: int, authorization: str | None) -> tuple[int, dict[str, str]]:
        lines = [f"DESCRIBE {bare} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp",
                 "User-Agent: crowdmood"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        match = re.match(r"RTSP/\d\.\d\s+(\d{3})", head[0] if head else "")
        if not match:
            raise ValueError("not an RTSP answer")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return int(match.group(1)), headers

    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        status, headers = ask(sock, 1, None)
        challenge = headers.get("www-authenticate", "")
        if status != 401 or user is None or not challenge:
            return status
        if challenge.lower().startswith("digest"):
            fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
            realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
            ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"DESCRIBE:{bare}".encode()).hexdigest()
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            authorization = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                             f'uri="{bare}", response="{response}"')
        else:
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        status, _ = ask(sock, 2, authorization)
        return status

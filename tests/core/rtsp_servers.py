"""RTSP servers for tests, on 127.0.0.1.

* :class:`AuthOnlyRtspServer`: a real RTSP/1.0 endpoint that answers every request
  ``401 Unauthorized`` with a Digest challenge (a camera whose password is not the one in
  the URL); it counts the requests and whether they carried credentials.
* :class:`GstRtspServer`: GStreamer's own RTSP server (``gst-rtsp-server`` through the
  system ``python3`` and PyGObject), serving a test pattern as MJPEG over TCP and UDP, or
  UDP only (like VLC). Needs the Debian packages in :data:`GST_PACKAGES`;
  :func:`gst_rtsp_available` says whether they are there.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

GST_PACKAGES = ("python3-gi", "gir1.2-gst-rtsp-server-1.0", "gstreamer1.0-plugins-good")
SYSTEM_PYTHON = "/usr/bin/python3"


class AuthOnlyRtspServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(8)
        self.host, self.port = self._sock.getsockname()[:2]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="rtsp-401", daemon=True)
        self._thread.start()

    def url(self, path: str = "/stream", userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"rtsp://{at}{self.host}:{self.port}{path}"

    @property
    def with_credentials(self) -> int:
        return sum("\r\nauthorization:" in r.lower() for r in self.requests)

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        data = b""
        try:
            while not self._stop.is_set():
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    request, data = data.split(b"\r\n\r\n", 1)
                    text = request.decode("latin-1")
                    self.requests.append(text)
                    cseq = next((line.split(":", 1)[1].strip() for line in text.split("\r\n")
                                 if line.lower().startswith("cseq:")), "0")
                    conn.sendall((
                        "RTSP/1.0 401 Unauthorized\r\n"
                        f"CSeq: {cseq}\r\n"
                        'WWW-Authenticate: Digest realm="camera", nonce="0123456789abcdef"\r\n'
                        "Content-Length: 0\r\n\r\n").encode())
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(1.0)

    def __enter__(self) -> "AuthOnlyRtspServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_GST_SCRIPT = r'''
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer, GLib

Gst.init(None)
protocols = sys.argv[1]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service("0")
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 "
    "! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26 )")
factory.set_shared(False)  # a media per client: a refused TCP SETUP cannot leave it half torn down (503)
flags = GstRtsp.RTSPLowerTrans.UDP
if protocols == "tcp+udp":
    flags |= GstRtsp.RTSPLowerTrans.TCP
factory.set_protocols(flags)
server.get_mount_points().add_factory("/test", factory)
server.attach(None)
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
'''


def gst_rtsp_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
         "import sys; sys.exit(0 if Gst.ElementFactory.find('jpegenc') and Gst.ElementFactory.find('rtpjpegpay') else 1)"],
        capture_output=True, timeout=30)
    return probe.returncode == 0


class GstRtspServer:
    """``with GstRtspServer("udp") as server: open(server.url)``: "udp" serves like VLC
    (a TCP SETUP is refused with 461), "tcp+udp" like most cameras."""

    def __init__(self, protocols: str = "tcp+udp") -> None:
        self.protocols = protocols
        self._proc = subprocess.Popen([SYSTEM_PYTHON, "-c", _GST_SCRIPT, protocols],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline().strip()  # the bound port, once listening
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"the GStreamer RTSP server did not start: {self._proc.stderr.read()[-500:]}")
        self.port = int(line)
        self.url = f"rtsp://127.0.0.1:{self.port}/test"
        time.sleep(0.2)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def __enter__(self) -> "GstRtspServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

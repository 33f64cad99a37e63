"""RSS bisection of the console window (soak growth hunt, issue #4).

    VAR=novideo,nofaces TICK=20 python bench/rss_bisect.py INTERVAL_S SECONDS

Runs the real MainWindow offscreen on the looping demo with parts switched off (VAR:
nofaces, nostyle, nopixmap, novideo, nopaint, nochart, nostatus, norec, nobridge, trim) and
prints RSS / anonymous / file-backed memory every TICK seconds, to find which part of the
window makes RSS grow ~0.5 MB/min in a 30-minute soak. A measuring tool, not a test.
"""
import os, sys, time, gc, ctypes
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["CROWDMOOD_HOME"] = __import__("tempfile").gettempdir() + "/crowdmood-bisect-" + str(os.getpid())
import psutil
V = set(os.environ.get("VAR", "").split(","))
interval, secs, tick_s = float(sys.argv[1]), int(sys.argv[2]), int(os.environ.get("TICK", "20"))
proc = psutil.Process()
libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-3, 128 * 1024)
from crowdmood_gui.core.config import load_config
config = load_config(overrides={"sampling": {"interval_s": interval}, "source": {"spec": str(__import__("pathlib").Path(__file__).resolve().parents[1] / "resources/demo/demo.mp4"), "loop": True}})
def smaps():
    d = {}
    for line in open("/proc/self/smaps_rollup"):
        p = line.split()
        if p[0] in ("Rss:", "Anonymous:", "Pss_File:"):
            d[p[0][:-1]] = int(p[1]) / 1024
    return d
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from crowdmood_gui.ui import main_window as mw, faces_strip, video_view, chart
if "nofaces" in V:
    faces_strip.RecentFacesStrip.add_record = lambda self, e: None
if "nostyle" in V:  # faces strip without per-record stylesheet
    faces_strip._Tile.setStyleSheet = lambda self, s: None
if "nopixmap" in V:
    import numpy as np
    orig = faces_strip.RecentFacesStrip.add_record
    def add_record(self, e):
        object.__setattr__(e, "thumbnail", None) if hasattr(e, "__slots__") else None
        return orig(self, e)
    faces_strip.RecentFacesStrip.add_record = add_record
if "novideo" in V:
    mw.MainWindow._on_frame_ready = lambda self: (self._bridge.take_frame() if self._bridge else None) and None
if "nopaint" in V:  # set_frame ok (QImage built) but no drawImage
    video_view.VideoView.paintEvent = lambda self, e: self._measure_paint()
if "norec" in V or "nobridge" in V:
    from crowdmood_gui.core.pipeline import Pipeline, NullObserver
    nb = "nobridge" in V
    mw.default_pipeline_factory = lambda c, o: Pipeline(c, NullObserver() if nb else o)
app = QApplication([])
window = mw.MainWindow(config, pipeline_factory=mw.default_pipeline_factory)
if "nochart" in V:
    window.chart._timer.stop()
if "nostatus" in V:
    window._status_timer.stop()
window.show()
window.open_source(config.source.spec, True)
if "trim" in V:
    t2 = QTimer(); t2.timeout.connect(lambda: libc.malloc_trim(0)); t2.start(5000)
t0 = time.monotonic()
def tick():
    s = smaps()
    el = time.monotonic() - t0
    print(f"{el:6.0f}s rss {s['Rss']:7.1f} anon {s['Anonymous']:7.1f} file {s['Pss_File']:6.1f} rec {window._records_seen} frames {window.video.frames_painted}", flush=True)
    if el > secs:
        b = smaps()['Rss']; libc.malloc_trim(0); a = smaps()['Rss']
        print(f"final malloc_trim: {b:.1f} -> {a:.1f} MB", flush=True)
        window.close(); app.quit()
timer = QTimer(); timer.timeout.connect(tick); timer.start(tick_s * 1000)
app.exec()

"""What painting the boxes costs: ms per paint of the video view, old code path beside the new.

    python bench/bench_paint.py [--faces 1 50 250 576] [--paints 60] [--window 1600x900]
                                [--platform offscreen|xcb] [--json-out FILE]

For each source size (1920x1080 and 3840x2160, the first frame of the bundled demo scaled up)
and each number of faces, it shows one frame in a :class:`VideoView` of the window size and
repaints it ``--paints`` times, once with today's ``VideoView._paint_boxes`` and once with the
code it replaced (one pen change, one ``drawRect``, two text layouts and a ``drawText`` per
box, kept below as :func:`paint_boxes_per_box`, as it was at commit 9ca05ba). The faces are
on a grid over the frame, 30 px wide at 1080p and 60 px at 4K (a crowd 4-8 m away), with
every expression colour; on a 1600x900 view both are ~25 px wide, so every box gets its
label in both code paths.

Prints per case, in ms, the median of the whole paint (``repaint()``: the frame scaled into
the view, plus the boxes) and of the boxes alone, as wall time and as CPU time of the GUI
thread (the cost that matters on a shared machine: it hardly moves with other processes'
load); the JSON adds p95s and the whole process's CPU time per paint (Qt scales a big frame
in its own thread pool). The load average is recorded beside the figures. No timing is
asserted anywhere (machines are shared and noisy).

``frame`` (issue #12, 4K live): what each *new* frame costs the GUI thread, ``set_frame``
of a fresh event (the boxes as the live pipeline hands them over) plus ``repaint()``, with
today's code; CPU time of the GUI thread, median. The script only uses the view's public
methods and ``last_boxes``, so the same file run in an older tree (``git archive``) measures
that tree's code: ``bench/README.md`` shows how.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, cpu_model, write_json  # noqa: E402

# width, height, face px; "4K far": the live 4K 24x24 crowd's 37 px faces (~15 px on screen: no labels)
SIZES = {"1080p": (1920, 1080, 30), "4K": (3840, 2160, 60), "4K far": (3840, 2160, 37)}


def paint_boxes_per_box(self, painter, target) -> None:
    """The box painting replaced in issue #12 (one box, then its label, at a time)."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QFontMetrics

    boxes = self.last_boxes
    if not boxes or self._qimage is None:
        return
    scale = target.width() / self._qimage.width()
    painter.setFont(self._label_font)
    metrics = QFontMetrics(self._label_font)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for box in boxes:
        colour, pen, text_pen = self._pens(box.colour)
        rect = QRectF(
            target.x() + box.x1 * scale,
            target.y() + box.y1 * scale,
            (box.x2 - box.x1) * scale,
            (box.y2 - box.y1) * scale,
        )
        painter.setPen(pen)
        painter.drawRect(rect)
        text_w = metrics.horizontalAdvance(box.label) + 8
        text_h = metrics.height() + 2
        top = rect.top() - text_h if rect.top() - text_h >= target.top() else rect.top()
        label_rect = QRectF(rect.left(), top, text_w, text_h)
        painter.fillRect(label_rect, colour)
        painter.setPen(text_pen)
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter, box.label)


def crowd(n: int, width: int, height: int, face: int):
    """``n`` tracks on a grid over the frame (16 columns, rows as needed)."""
    from crowdmood_gui.core.emotions import EMOTION_COLOURS
    from crowdmood_gui.core.events import TrackBox

    kinds = [*EMOTION_COLOURS, None]
    cols = 16
    rows = max(1, -(-n // cols))
    cw, ch = width / cols, height / max(rows, 16)
    return tuple(
        TrackBox(i + 1, (i % cols) * cw + cw / 3, (i // cols) * ch + ch / 3,
                 (i % cols) * cw + cw / 3 + face, (i // cols) * ch + ch / 3 + face * 1.3, 0.9,
                 dominant=kinds[i % len(kinds)])
        for i in range(n)
    )


def measure(view, app, paints: int, paint_boxes) -> dict:
    """Repaint ``paints`` times with ``paint_boxes``; whole-paint and boxes-only times in ms."""
    box_times: list[float] = []
    box_cpu: list[float] = []

    def timed(painter, target):
        started, cpu = time.perf_counter(), time.thread_time()
        paint_boxes(painter, target)
        box_times.append((time.perf_counter() - started) * 1000.0)
        box_cpu.append((time.thread_time() - cpu) * 1000.0)

    view._paint_boxes = timed
    whole: list[float] = []
    whole_cpu: list[float] = []
    whole_process_cpu: list[float] = []
    for _ in range(5):  # warm-up: caches, first layouts
        view.repaint()
    box_times.clear()
    box_cpu.clear()
    for _ in range(paints):
        started, cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        view.repaint()
        whole.append((time.perf_counter() - started) * 1000.0)
        whole_cpu.append((time.thread_time() - cpu) * 1000.0)
        whole_process_cpu.append((time.process_time() - process_cpu) * 1000.0)
    app.processEvents()
    del view._paint_boxes  # back to the class's method

    def pct(values, q):
        return round(sorted(values)[min(len(values) - 1, int(q / 100 * len(values)))], 3)

    return {
        "paint_ms_median": round(statistics.median(whole), 3), "paint_ms_p95": pct(whole, 95),
        "boxes_ms_median": round(statistics.median(box_times), 3), "boxes_ms_p95": pct(box_times, 95),
        # CPU time of the GUI thread: what the paint costs, less blurred by other processes
        "paint_cpu_ms_median": round(statistics.median(whole_cpu), 3),
        # all threads: Qt scales a big frame in its own thread pool, outside the GUI thread
        "paint_process_cpu_ms_median": round(statistics.median(whole_process_cpu), 3),
        "boxes_cpu_ms_median": round(statistics.median(box_cpu), 3),
    }


def measure_frames(view, app, paints: int, image, tracks) -> dict:
    """GUI-thread CPU of each new frame: ``set_frame`` of a new event, then ``repaint()``."""
    from crowdmood_gui.core.events import FrameEvent

    try:  # the live pipeline hands the view its boxes as arrays (this tree); older trees: a tuple
        from crowdmood_gui.core.events import ShownBoxes

        def boxes_of(i):
            return ShownBoxes.from_boxes(tracks).at(float(i))
    except ImportError:
        def boxes_of(i):
            return tuple(b.at(float(i)) for b in tracks)

    events = [FrameEvent(i, float(i), time.monotonic(), image, boxes_of(i)) for i in range(paints + 5)]
    cpu: list[float] = []
    for i, event in enumerate(events):
        started = time.thread_time()
        view.set_frame(event)
        view.repaint()
        if i >= 5:  # warm-up
            cpu.append((time.thread_time() - started) * 1000.0)
    app.processEvents()
    return {"frame_cpu_ms_median": round(statistics.median(cpu), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, nargs="+", default=[1, 50, 250, 576])
    parser.add_argument("--paints", type=int, default=60)
    parser.add_argument("--window", default="1600x900")
    parser.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM (xcb under xvfb-run)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform

    import cv2
    from PySide6.QtWidgets import QApplication

    from crowdmood_gui.core.config import DEMO_VIDEO
    from crowdmood_gui.core.events import FrameEvent
    from crowdmood_gui.ui.video_view import VideoView

    app = QApplication.instance() or QApplication([])
    ok, first = cv2.VideoCapture(str(DEMO_VIDEO)).read()
    if not ok:
        raise SystemExit(f"cannot read {DEMO_VIDEO}")
    win_w, win_h = (int(v) for v in args.window.split("x"))
    view = VideoView()
    view.resize(win_w, win_h)
    view.show()
    app.processEvents()

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "code": code_version(),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version.split()[0]},
        "platform": args.platform, "window": args.window, "paints": args.paints,
        "input": f"first frame of {DEMO_VIDEO.name} scaled to each size; faces on a grid, all colours",
        "load_avg_before": [round(x, 2) for x in os.getloadavg()], "cases": [],
    }
    print(f"window {args.window}, {args.paints} paints per case, platform {args.platform}, "
          f"load {result['load_avg_before']}")
    print("median ms of wall time (CPU time of the GUI thread); p95 in the JSON")
    print(f"{'source':7} {'faces':>5}  {'old paint':>16} {'new paint':>16}   {'old boxes':>16} {'new boxes':>16}"
          f"  {'boxes old/new (CPU)':>19}  {'frame (CPU)':>11}")
    for name, (w, h, face) in SIZES.items():
        image = cv2.resize(first, (w, h), interpolation=cv2.INTER_LINEAR)
        for n in args.faces:
            view.set_frame(FrameEvent(0, 0.0, time.monotonic(), image, crowd(n, w, h, face)))
            row = {"source": f"{name} {w}x{h}", "faces": n, "face_px": face}
            row["old"] = measure(view, app, args.paints, types.MethodType(paint_boxes_per_box, view))
            row["new"] = measure(view, app, args.paints, view._paint_boxes)
            row["new"]["labels_painted"] = view.labels_painted
            row["new"].update(measure_frames(view, app, args.paints, image, crowd(n, w, h, face)))
            row["load_avg_1m"] = round(os.getloadavg()[0], 2)
            ratio = row["old"]["boxes_cpu_ms_median"] / max(row["new"]["boxes_cpu_ms_median"], 1e-6)
            row["boxes_cpu_old_over_new"] = round(ratio, 2)
            result["cases"].append(row)

            def cell(m, key):
                return f"{m[key + '_ms_median']:6.2f} ({m[key + '_cpu_ms_median']:6.2f})"

            print(f"{name:7} {n:5d}  {cell(row['old'], 'paint')} {cell(row['new'], 'paint')}   "
                  f"{cell(row['old'], 'boxes')} {cell(row['new'], 'boxes')}  {ratio:18.1f}x"
                  f"  {row['new']['frame_cpu_ms_median']:11.2f}  load {row['load_avg_1m']}")
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json_out:
        write_json(args.json_out, result)
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

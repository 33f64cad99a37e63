"""run_in_background: the result reaches the owner on the GUI thread, a gone owner never
hears back, and the worker thread never frees a Qt object (that crashed the test run)."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Qt

from crowdmood_gui.ui.tasks import run_in_background


def test_result_and_error_arrive_on_the_gui_thread(qtbot):
    owner = QObject()
    got = []
    run_in_background(lambda: 41 + 1, lambda v: got.append((v, threading.current_thread())), owner=owner)
    run_in_background(lambda: 1 / 0, lambda v: None, owner=owner,
                      on_error=lambda e: got.append((type(e).__name__, threading.current_thread())))
    qtbot.waitUntil(lambda: len(got) == 2)
    assert sorted(str(v) for v, _ in got) == ["42", "ZeroDivisionError"]
    assert all(t is threading.main_thread() for _, t in got)


def test_an_owner_dropped_while_its_task_runs_is_freed_on_the_gui_thread(qtbot):
    """The last reference to the owner (and to a task bound to it) must not die in the
    worker: deleting a QObject on a worker thread crashed the suite."""
    destroyed_in, results = [], []
    owner = QObject()
    owner.destroyed.connect(lambda *_: destroyed_in.append(threading.current_thread()),
                            Qt.ConnectionType.DirectConnection)
    release = threading.Event()
    # The task holds the owner (a default argument: ``del owner`` below empties a closure cell,
    # and the task then raised NameError instead of reading it).
    thread = run_in_background(lambda held=owner: release.wait(5) and held.objectName(), results.append, owner=owner)
    del owner  # the GUI forgets it: the task and its callbacks hold the only references
    release.set()
    thread.join(5)
    qtbot.waitUntil(lambda: bool(destroyed_in), timeout=3000)
    assert destroyed_in == [threading.main_thread()]
    assert results == [""]  # the task read the owner it held, on the worker, without error


def test_a_gone_owner_never_hears_back_but_orphaned_runs(qtbot):
    owner = QObject()
    heard, orphaned = [], []
    run_in_background(lambda: time.sleep(0.1) or "late", heard.append, owner=owner, on_orphaned=orphaned.append)
    owner.deleteLater()
    qtbot.waitUntil(lambda: orphaned == ["late"], timeout=3000)
    assert heard == []


def test_a_job_relays_its_lines_then_its_result_and_is_idle_when_heard(qtbot):
    from crowdmood_gui.ui.tasks import BackgroundJob

    owner = QObject()
    job = BackgroundJob(owner, name="crowdmood-test-job")
    heard = []
    job.relay.line.connect(lambda text: heard.append(("line", text, threading.current_thread())))
    job.relay.done.connect(lambda result: heard.append(("done", result, job.running)))

    def work(relay):
        for n in range(3):
            relay.line.emit(f"step {n}")
        return "finished"

    job.start(work)
    assert job.running and job.thread.name == "crowdmood-test-job"
    qtbot.waitUntil(lambda: any(h[0] == "done" for h in heard))
    assert [h[1] for h in heard] == ["step 0", "step 1", "step 2", "finished"]  # lines first, in order
    assert all(h[2] is threading.main_thread() for h in heard[:3])
    assert heard[-1][2] is False  # idle before the owner hears the result
    job.start(lambda relay: 1 / 0)  # the same job runs again; an error is its result
    qtbot.waitUntil(lambda: len(heard) == 5)
    assert isinstance(heard[-1][1], ZeroDivisionError) and not job.running

"""Background work with a callback on the GUI thread (Anki's ``QueryOp`` idea).

    run_in_background(lambda: slow_open(url), on_done=show_result, owner=dialog)

``fn`` runs in a daemon thread; ``on_done(result)`` or ``on_error(exc)`` runs later on the
GUI thread, but only while ``owner`` (a QObject) still exists: a dialog closed while its
test was running simply never hears back. No QThread subclass, no blocking of the window.

:class:`BackgroundJob` is the same for a page that runs one job at a time and shows its
progress (the AWS wizard): ``fn(relay)`` reports lines and step results through the relay's
signals, and ``relay.done`` fires with the result (or the exception) on the GUI thread.
Cancelling is cooperative: the work is given a ``threading.Event`` it checks between calls.
This module is the UI's one way to run work off the GUI thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

log = logging.getLogger(__name__)


class _MainThreadInvoker(QObject):
    """Lives on the GUI thread; runs closures posted from any thread."""

    call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def _run(self, closure: Callable[[], None]) -> None:
        try:
            closure()
        except Exception:  # a callback bug must not kill the event loop silently
            log.exception("background task callback failed")
            raise


_invoker: _MainThreadInvoker | None = None


def _get_invoker() -> _MainThreadInvoker:
    """The invoker, created on first use from the GUI thread, owned by the application."""
    global _invoker
    if _invoker is None or not shiboken6.isValid(_invoker):
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("run_in_background needs a Q(Core)Application")
        _invoker = _MainThreadInvoker(app)
    return _invoker


def call_on_gui_thread(closure: Callable[[], None]) -> None:
    """Queue ``closure`` to run on the GUI thread (safe from any thread)."""
    invoker = _get_invoker()
    try:
        invoker.call.emit(closure)
    except RuntimeError:  # application shutting down
        pass


# Hand-over of finished background work to the GUI thread, by key. A worker thread must
# never drop the last reference to anything Qt (the owner, a task or callback bound to a
# widget): a Python wrapper freed on a worker deletes its QObject there and Qt crashes
# (seen: a dialog closed while its URL test was running). The worker stores the task, its
# callbacks and the outcome here and posts only the key; the GUI thread takes them out.
_handoff: dict[int, tuple[list, tuple[int, Any]]] = {}
_handoff_lock = threading.Lock()
_handoff_keys = itertools.count()


def _deliver(key: int) -> None:
    """GUI thread: run the finished task's callback; every reference dies here."""
    with _handoff_lock:
        held, (index, value) = _handoff.pop(key)
    _task, on_done, on_error, on_orphaned, owner = held
    held.clear()  # the worker's closure still points at this list: leave it empty
    if not shiboken6.isValid(owner):
        if on_orphaned is not None:
            on_orphaned(value if index == 0 else None)
        return
    callback = on_done if index == 0 else on_error
    if callback is not None:
        callback(value)


def run_in_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    *,
    owner: QObject,
    on_error: Callable[[BaseException], None] | None = None,
    on_orphaned: Callable[[Any], None] | None = None,
    name: str = "crowdmood-task",
) -> threading.Thread:
    """Run ``fn()`` in a daemon thread, then ``on_done(result)`` on the GUI thread.

    ``on_orphaned(result)`` runs instead of ``on_done`` / ``on_error`` when ``owner`` is
    gone by then (``result`` is None after an error): the place to release what the work
    holds (an open file, a temporary folder) that nobody will use.
    """
    _get_invoker()  # create it now, on the GUI thread
    held: list = [fn, on_done, on_error, on_orphaned, owner]

    def work() -> None:
        try:
            outcome: tuple[int, Any] = (0, held[0]())
        except Exception as exc:  # reported to the owner, not raised in a thread
            log.debug("background task %s failed: %s", name, exc)
            outcome = (1, exc.with_traceback(None))  # no frames (and their locals) kept alive
        key = next(_handoff_keys)
        with _handoff_lock:
            _handoff[key] = (held, outcome)
        del outcome  # before posting: after it, the GUI thread may already be done with it
        call_on_gui_thread(lambda: _deliver(key))

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    return thread


class JobRelay(QObject):
    """Carries a :class:`BackgroundJob`'s news to the GUI thread: ``line`` and ``step`` are
    emitted by the worker (queued connections), ``done`` on the GUI thread."""

    line = Signal(str)
    step = Signal(object)  # e.g. a provisioning StepResult (a copy)
    done = Signal(object)  # the job's return value, or the Exception it raised


class BackgroundJob:
    """One job at a time for ``owner`` (a page): ``fn(relay)`` runs through
    :func:`run_in_background`; ``relay.done`` fires on the GUI thread with its result or
    its exception, unless ``owner`` is gone by then."""

    def __init__(self, owner: QObject, *, name: str = "crowdmood-job") -> None:
        self.owner = owner
        self.name = name
        self.relay = JobRelay(owner)
        self.thread: threading.Thread | None = None
        self._busy = False

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the result reached the GUI thread."""
        return self._busy

    def start(self, fn: Callable[[JobRelay], Any]) -> None:
        self._busy = True
        relay = self.relay
        self.thread = run_in_background(lambda: fn(relay), self._finish, owner=self.owner,
                                        on_error=self._finish, name=self.name)

    def _finish(self, result: Any) -> None:
        self._busy = False  # idle before anyone hears the result (a slot may start the next job)
        self.relay.done.emit(result)

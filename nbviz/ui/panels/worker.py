"""Background jobs for panels: one at a time, the newest wins, so a widget never waits on old work."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

#: The name of every panel's background thread (a test waits for them by it).
THREAD_NAME = "nbviz-worker"


class Job:
    """A function run in a daemon thread after the job before it has ended.

    ``work(cancelled)`` gets a callable that turns true once :meth:`cancel` was called; it checks it between
    steps. A job cancelled before its turn never starts.
    """

    def __init__(self, key: Hashable, work: Callable[[Callable[[], bool]], None], after: Job | None) -> None:
        self.key = key
        self.done = threading.Event()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work, after), daemon=True, name=THREAD_NAME)
        self._thread.start()

    def _run(self, work: Callable[[Callable[[], bool]], None], after: Job | None) -> None:
        try:
            if after is not None:
                after.done.wait()
            if not self._cancel.is_set():
                work(self._cancel.is_set)
        finally:
            self.done.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


class LatestJob:
    """Runs the newest job only: submitting one cancels the one before (it stops at its next check), so a
    slider dragged over ten samples computes for the last one, and at most one job computes at a time."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self._lock = threading.Lock()

    def submit(self, key: Hashable, work: Callable[[Callable[[], bool]], None]) -> Job:
        """Run ``work`` for ``key`` unless a live job for the same key runs already (that one is returned)."""
        with self._lock:
            job = self.job
            if job is not None and job.key == key and not job.cancelled and not job.done.is_set():
                return job
            if job is not None:
                job.cancel()
            self.job = Job(key, work, job)
            return self.job

    def cancel(self) -> None:
        """Stop the current job at its next check."""
        with self._lock:
            if self.job is not None:
                self.job.cancel()

    def running(self, key: Hashable) -> bool:
        """Whether the job for ``key`` is live (started or waiting its turn, not cancelled)."""
        job = self.job
        return job is not None and job.key == key and not job.cancelled and not job.done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current job to end; False when ``timeout`` passed first."""
        job = self.job
        return True if job is None else job.done.wait(timeout)

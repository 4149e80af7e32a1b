"""TensorFlow's C++ start-up log lines kept out of a notebook's first output.

Loading TensorFlow prints absl log lines to the process's stderr ("Could not find cuda drivers", "failed call to
cuInit", oneDNN and CPU-feature notes, cuDNN/cuBLAS factory registration): in a notebook they are a pink block
under the first cell that reads as a failure. ``TF_CPP_MIN_LOG_LEVEL`` silences the lines logged once TensorFlow
has set up its logging, but not those logged while its libraries load (absl prints those to stderr whatever the
level, after "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"). So the
first import of ``tensorflow`` runs with the process's stderr (file descriptor 2, which the kernel forwards to
the notebook) passed through a filter that drops those log lines and lets every other line through. Python
warnings and exceptions are not touched: they go through ``sys.stderr`` and Python's own machinery.

A person who sets ``TF_CPP_MIN_LOG_LEVEL`` (to "0", say) asked for TensorFlow's logs: then nothing is filtered.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

# The level nbviz asks for when nobody chose one: 3 leaves out INFO, WARNING and ERROR lines of TensorFlow's C++
# core (errors that matter reach Python as exceptions); FATAL ones still print.
LOG_LEVEL = "3"
# An absl log line: severity letter, MMDD, time, thread id, file:line] (FATAL lines, "F", are kept).
_ABSL_LINE = re.compile(rb"^[IWE]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")
_NOISE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    # The second line of cpu_feature_guard's note, which has no log prefix of its own.
    b"To enable the following instructions:",
)


def is_noise(line: bytes) -> bool:
    """Whether one line of stderr is a TensorFlow start-up log line (dropped) rather than anything else (kept)."""
    return bool(_ABSL_LINE.match(line)) or line.startswith(_NOISE)


@contextmanager
def filtered_stderr(fd: int = 2) -> Iterator[None]:
    """Pass what is written to file descriptor ``fd`` meanwhile through :func:`is_noise`, line by line.

    A pipe and a thread rather than a file: a line written just before a crash still reaches the original stderr.
    """
    try:
        saved = os.dup(fd)
        read_end, write_end = os.pipe()
    except OSError:  # no stderr to filter (a closed descriptor): nothing to quiet
        yield
        return

    def forward() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                os.write(saved, kept)
        if pending and not is_noise(pending):
            os.write(saved, pending)

    thread = threading.Thread(target=forward, name="nbviz-quiet-stderr", daemon=True)
    thread.start()
    for stream in (sys.stderr, sys.__stderr__):
        _flush(stream)
    os.dup2(write_end, fd)
    os.close(write_end)
    try:
        yield
    finally:
        for stream in (sys.stderr, sys.__stderr__):
            _flush(stream)
        os.dup2(saved, fd)  # closes the pipe's last write end: the thread reads to the end and stops
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


class _QuietLoader(importlib.abc.Loader):
    """The real loader of ``tensorflow``, run with stderr filtered."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with filtered_stderr():
            self.loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self.loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, and hands it to :class:`_QuietLoader`; once only."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        uninstall()  # before looking: the search below must not find this finder again
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


_FINDER = _QuietFinder()


def install() -> None:
    """Quiet TensorFlow's start-up logs from now on, unless TensorFlow is loaded already or someone set
    ``TF_CPP_MIN_LOG_LEVEL`` (then its logs were asked for); idempotent."""
    if "tensorflow" in sys.modules or _FINDER in sys.meta_path:
        return
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL) != LOG_LEVEL:
        return
    sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Stop quieting (the next ``import tensorflow`` prints what TensorFlow prints)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)

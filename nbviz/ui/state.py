"""The Explorer's state machinery, shared with :class:`~nbviz.ui.compare.CompareView`: the errors a bad change
raises, the traitlet type whose validators check every value, the slider's coalescer and the after-cell hook.

The errors
They are traitlets' ``TraitError`` (so that a change made inside ``hold_trait_notifications``, as
``Explorer.navigate`` makes them, is rolled back whole) and also the ValueError or TypeError of nbviz's public
error vocabulary (so ``pytest.raises(ValueError)`` and ``except ValueError`` keep working).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import traitlets

T = TypeVar("T")


class InvalidValue(traitlets.TraitError, ValueError):
    """A state value of the right type that is not allowed (an unknown layer, a sample out of range)."""


class InvalidType(traitlets.TraitError, TypeError):
    """A state value of the wrong type."""


def checked(check: Callable[[Any], T], value: Any) -> T:
    """``check(value)``, with its TypeError or ValueError raised again as :class:`InvalidType` or
    :class:`InvalidValue` (same message)."""
    try:
        return check(value)
    except traitlets.TraitError:
        raise
    except TypeError as err:
        raise InvalidType(str(err)) from None
    except ValueError as err:
        raise InvalidValue(str(err)) from None


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where a dragged slider sends bursts of messages."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def running_cell() -> bool:
    """True while a notebook cell's code runs in a kernel, False while the kernel handles a message from a widget in
    the page (a click) or outside a kernel: code that sets a view's state reads what it set in the next line,
    where a click must never wait."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    parent = kernel.get_parent("shell") if hasattr(kernel, "get_parent") else {}
    return bool((parent or {}).get("header", {}).get("msg_type") == "execute_request")


class Coalescer:
    """Applies only the last of a burst of values (a dragged slider), ``delay`` seconds after the burst.

    It defers only in a kernel with a running event loop (``defer=None``), where the kernel handles the queued
    slider messages before the timer fires; elsewhere (plain Python, tests) each value is applied at once.
    """

    def __init__(self, apply: Callable[[Any], None], delay: float, defer: bool | None = None) -> None:
        self.apply = apply
        self.delay = delay
        self.defer = in_kernel() if defer is None else defer
        self.pending: Any = None
        self.handle: asyncio.TimerHandle | None = None

    def __call__(self, value: Any) -> None:
        self.pending = value
        loop = None
        if self.defer and self.delay > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        if loop is None:
            self.flush()
        elif self.handle is None:
            self.handle = loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        self.handle = None
        self.apply(self.pending)


class Checked(traitlets.TraitType):  # type: ignore[type-arg]
    """Any value, always handed to the owner's validators (None included, unlike traitlets.Any)."""

    allow_none = False
    info_text = "a value checked by the Explorer"


def after_each_cell(explorer: Any) -> Callable[[], None]:
    """Call ``explorer._after_cell`` after every cell of an IPython kernel (held weakly: a forgotten Explorer
    unhooks itself); returns the function that unhooks it. Outside IPython, nothing to hook."""
    try:
        from IPython import get_ipython
    except ImportError:
        return lambda: None
    shell = get_ipython()
    events = getattr(shell, "events", None)
    if events is None:
        return lambda: None
    ref = weakref.ref(explorer)

    def after_cell(*_: Any) -> None:
        target = ref()
        if target is None:
            unhook()
        else:
            target._after_cell()

    def unhook() -> None:
        if after_cell in events.callbacks.get("post_run_cell", []):
            events.unregister("post_run_cell", after_cell)

    events.register("post_run_cell", after_cell)
    return unhook

"""Closing a view: every widget it made is closed, and nothing it leaves behind holds the model.

ipywidgets keeps every open widget in a registry (``ipywidgets.Widget.widgets``) until it is closed, and an open
widget keeps alive whatever its observers reach (a panel, its analysis, the model). Closing only the top widget,
as ``Widget.close`` does, leaves the rest of the tree open, so a view owns and closes what it can reach:

* the widgets in its tree (the trait values that ipywidgets syncs: children, marks, scales, axes, ...);
* the widgets its nbviz parts hold in attributes (a figure taken off the page while its plot shows a note, a
  mark kept for later), found through the attributes of every nbviz UI object on the way;

never crossing into the compute core (no widget there) or into an object it was handed (``keep``: a
LiveTraining the user made, whose view the Explorer shows but does not own).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import ipywidgets as widgets


def _is_ui_part(value: Any) -> bool:
    """Whether ``value`` is an object of nbviz's widget side, whose attributes may hold widgets it made."""
    module = type(value).__module__
    return module.startswith("nbviz.") and not module.startswith("nbviz.compute")


def _inside(value: Any) -> Iterator[Any]:
    """What ``value`` holds that may lead to widgets: a container's items, a widget's synced traits, a UI part's
    attributes. Anything else (arrays, the analysis, Keras objects, functions) leads nowhere."""
    if isinstance(value, (list, tuple, set, frozenset)):
        yield from value
    elif isinstance(value, dict):
        yield from value.values()
    else:
        if isinstance(value, widgets.Widget):
            # The values already set: reading a trait not yet read would make its default, a new widget (a Layout).
            for key in value.keys:
                yield value._trait_values.get(key)
        if _is_ui_part(value):
            yield from vars(value).values()


def owned_widgets(root: Any, keep: Iterable[Any] = ()) -> list[widgets.Widget]:
    """Every widget reachable from ``root`` (itself included when it is one) and not through ``keep``.

    Returns
    -------
    list of ipywidgets.Widget
        Each once, in the order found (``root`` first).
    """
    kept = {id(k) for k in keep}
    seen: set[int] = set()
    found: list[widgets.Widget] = []
    todo = [root]
    while todo:
        value = todo.pop()
        if id(value) in seen or id(value) in kept:
            continue
        seen.add(id(value))
        if isinstance(value, widgets.Widget):
            found.append(value)
        todo.extend(_inside(value))
    return found


def close_owned(root: Any, keep: Iterable[Any] = ()) -> int:
    """Close every widget that ``root`` owns (see :func:`owned_widgets`), except ``root`` itself (whose own
    ``close`` calls this), and drop their observers and callbacks.

    A closed widget never fires again, but its observers would keep alive what they reach (a panel, its analysis,
    the model) for as long as the widget is referenced, and a closed view may stay referenced: a notebook's
    ``Out`` keeps every view it showed.

    Returns
    -------
    int
        How many widgets were open.
    """
    closed = 0
    for widget in owned_widgets(root, keep):
        if widget is root:
            continue
        if widget.comm is not None:
            closed += 1
            widget.close()
        forget_callbacks(widget)
    return closed


def forget_callbacks(widget: widgets.Widget) -> None:
    """Drop a closed widget's trait observers and its event callbacks (``on_click``, ``on_msg``, bqplot's
    ``on_element_click``, ...: each a ``CallbackDispatcher`` of its own)."""
    widget.unobserve_all()
    for value in vars(widget).values():
        if isinstance(value, widgets.CallbackDispatcher):
            value.callbacks.clear()

"""The one way text enters HTML: every name that reaches an HTML widget or the report goes through :func:`escape`.

Names come from elsewhere: a ``.keras`` file someone else wrote names its model and layers, a person names the
classes, features, datasets, selections, tokens and the loss. Any of them may hold markup (``<img src=x
onerror=...>``), which an HTML widget would run in the notebook of whoever opens it, and which the saved report
would carry to whoever opens the file. So text is escaped where it is put into HTML, and nowhere else: no other
module imports ``html`` (a test reads the sources for it), so there is one door to look at.
"""

from __future__ import annotations

import html

__all__ = ["escape"]


def escape(text: object) -> str:
    """``text`` (any object, as ``str``) as HTML that shows it as written: ``& < > " '`` become entities.

    Safe inside an element and inside a quoted attribute value (``title='...'``, ``data-layer="..."``). Escape
    a name once, where it is put into HTML: a text escaped twice shows its entities ("&amp;lt;").

    Returns
    -------
    str
        The escaped text.
    """
    return html.escape(str(text), quote=True)

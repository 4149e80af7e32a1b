"""Questions: what a panel asks an analysis, memoised under a key derived from the question itself (its name and
its arguments as its signature binds them, defaults applied), so that nobody spells a memo key by hand: a panel
asks ``analysis.answered(analysis.findings)`` where it used to ask ``analysis.cached("findings")``.

:class:`Questions` is what every view asks of what it shows, an :class:`~nbviz.compute.analysis.Analysis` of
one model or a :class:`~nbviz.compute.analysis.comparison.Comparison` of two.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from ..data.dataset import CheckedData
    from ..model.graph import ModelGraph

F = TypeVar("F", bound=Callable[..., Any])
_MISSING = object()


def question(method: F) -> F:
    """Memoise a public question of an analysis (a method of a class with ``_ask(key, compute)``) under
    ``(its name, *its bound arguments)`` for the model's version; ``method.key(*args, **kwargs)`` gives that key
    without asking (what :meth:`answered` reads)."""
    signature = inspect.signature(method)
    name = method.__name__
    params = list(signature.parameters.values())[1:]  # after self
    names = [p.name for p in params]
    defaults = {p.name: p.default for p in params if p.default is not p.empty}
    plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)

    def key(*args: Any, **kwargs: Any) -> tuple[Hashable, ...]:
        if plain and len(args) <= len(names) and not kwargs.keys() & set(names[: len(args)]):
            # The common case (a panel's call) without Signature.bind, which costs 30 times as much.
            rest = [kwargs.pop(n) if n in kwargs else defaults.get(n, _MISSING) for n in names[len(args) :]]
            if not kwargs and _MISSING not in rest:
                return (name, *args, *rest)
            kwargs.update({n: v for n, v in zip(names[len(args) :], rest) if v is not _MISSING})
        bound = signature.bind(None, *args, **kwargs)  # None stands for self; raises the usual TypeError
        bound.apply_defaults()
        return (name, *list(bound.arguments.values())[1:])

    @functools.wraps(method)
    def asked(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._ask(key(*args, **kwargs), lambda: method(self, *args, **kwargs))

    asked.key = key  # type: ignore[attr-defined]
    return asked  # type: ignore[return-value]


def key_of(asked: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Hashable, ...]:
    """The memo key (without the version) of asking ``asked`` (a method made by :func:`question`, bound or not)."""
    key = getattr(asked, "key", None)
    if key is None:
        raise TypeError(f"question: expected a method marked @question, got {asked!r}")
    return key(*args, **kwargs)  # type: ignore[no-any-return]


@runtime_checkable
class Questions(Protocol):
    """What a view asks of what it shows, whether one model's analysis or a comparison of two: the data and the
    layer graph it shows, the version its answers are keyed by, a block of questions under one version check,
    reading the weights again after a cell ran, whether a question is answered already (so a panel can say
    "computing..." first), and the layer to open on."""

    data: CheckedData
    graph: ModelGraph

    @property
    def version(self) -> str: ...

    def pinned(self) -> AbstractContextManager[str]: ...

    def check_version(self) -> str: ...

    def refresh(self) -> str: ...

    def answered(self, asked: Callable[..., Any], *args: Any, **kwargs: Any) -> bool: ...

    def first_layer(self) -> str: ...


__all__ = ["Questions", "question", "key_of"]

"""Groups of layers: what a layer graph of thousands of layers folds into a readable outline.

Four things make a group, found in this order within each nested model or block:

* a **holder**: a nested model, or a custom layer built of layers (KerasHub's ``TransformerEncoder``), with the
  layers inside it;
* a **scope**: layers whose names share a prefix of whole words (``conv2_block1_1_conv``, ``conv2_block1_add``:
  the scopes ``conv2``, ``conv2_block1`` and ``conv2_block1_1``). A prefix that only numbers its layers
  (``dense``, ``dense_1``; ``transformer_layer_0``, ``transformer_layer_1``) names no scope;
* a **repeat**: two or more neighbouring groups that are the same block (same layer classes, output shapes,
  parameter counts and inner wiring), folded into one "xN" group (ResNet's identity blocks, 24 transformer
  layers);
* a **range**: where a level still has more than :data:`MAX_ITEMS` items (a chain of a thousand unnamed
  blocks), consecutive items in chunks, so that no level is longer than that.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import ModelGraph

MAX_ITEMS = 48  # items one level may show: a readable column of names
_WORDS = re.compile(r"[_.\-]")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Group:
    """One group of layers.

    Attributes
    ----------
    name : str
        Unique among groups. A holder's group has the holder's layer name; a scope's is its prefix
        (qualified like a layer: ``"outer/conv2"``); a repeat's and a range's are ``"first..last"``, their first
        and last items.
    kind : str
        "model", "block", "scope", "repeat" or "range".
    children : tuple of str
        Its items in order: layer names and group names (see :attr:`GroupTree.groups`).
    layers : tuple of str
        Every layer inside it, at any depth, in the graph's topological order.
    parent : str or None
        The group it lies in, None at the top level.
    fold : int
        A repeat's number of identical blocks; 1 for the other kinds.
    label : str
        What a closed group shows: its local name and layer count, or for a repeat its first and last blocks and
        ``xN``, for a range its first and last items.
    """

    name: str
    kind: str
    children: tuple[str, ...]
    layers: tuple[str, ...]
    parent: str | None = None
    fold: int = 1
    label: str = ""


@dataclass(frozen=True)
class GroupTree:
    """The groups of a model graph, as a tree over its layers.

    Attributes
    ----------
    top : tuple of str
        The top level's items (layer and group names), in order.
    groups : dict of str -> Group
        Every group by name.
    owner : dict of str -> str
        Each layer's innermost enclosing group (absent at the top level); a group's is its ``parent``.
    """

    top: tuple[str, ...]
    groups: dict[str, Group]
    owner: dict[str, str]
    _order: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.groups.values())

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, name: str) -> Group:
        if name not in self.groups:
            known = list(self.groups)
            raise KeyError(f"group: expected one of {known[:8]}{'...' if len(known) > 8 else ''}, got {name!r}")
        return self.groups[name]

    def __contains__(self, name: object) -> bool:
        return name in self.groups

    def path(self, name: str) -> list[str]:
        """The groups enclosing a group, or a layer, outermost first (empty at the top level). A holder's name
        is taken as its group's; :meth:`layer_path` takes it as its layer's."""
        chain = []
        current = self.groups[name].parent if name in self.groups else self.owner.get(name)
        while current is not None:
            chain.append(current)
            current = self.groups[current].parent
        return chain[::-1]

    def layer_path(self, layer: str) -> list[str]:
        """The groups to open for ``layer``'s own row to show (a holder's layer lies in its own group)."""
        chain = []
        current = self.owner.get(layer)
        while current is not None:
            chain.append(current)
            current = self.groups[current].parent
        return chain[::-1]

    def children(self, name: str | None) -> tuple[str, ...]:
        """The items of a group, or the top level's for None."""
        return self.top if name is None else self.groups[name].children

    def by_kind(self, kind: str) -> list[Group]:
        return [g for g in self.groups.values() if g.kind == kind]


def group_tree(graph: ModelGraph, max_items: int = MAX_ITEMS) -> GroupTree:
    """The groups of ``graph`` (see the module docstring); deterministic for a given graph."""
    return _Grouper(graph, max_items).tree()


class _Grouper:
    def __init__(self, graph: ModelGraph, max_items: int) -> None:
        self.graph = graph
        self.max_items = max(4, max_items)
        self.position = {name: i for i, name in enumerate(graph.names)}
        self.groups: dict[str, Group] = {}
        self._signatures: dict[str, tuple[object, ...]] = {}
        # Inner wiring, for telling identical blocks apart: each layer's sources.
        self.sources: dict[str, list[str]] = {}
        for source, target in graph.edges:
            self.sources.setdefault(target, []).append(source)

    def tree(self) -> GroupTree:
        inside: dict[str | None, list[str]] = {}
        for node in self.graph.nodes:
            inside.setdefault(node.parent, []).append(node.name)
        holders = {n.name: ("model" if n.is_model else "block") for n in self.graph.nodes if n.name in inside}
        top = self._level(None, inside, holders)
        groups = {name: self.groups[name] for name in sorted(self.groups, key=self._first)}
        # A layer's innermost group (a holder's own layer: its group); groups know their parents.
        owner = {
            child: group.name
            for group in groups.values()
            for child in group.children
            if child not in groups or child == group.name
        }
        return GroupTree(top=tuple(top), groups=groups, owner=owner)

    def _first(self, item: str) -> int:
        """Where an item starts in the graph's topological order."""
        group = self.groups.get(item)
        return self.position[group.layers[0]] if group is not None else self.position[item]

    def _level(self, holder: str | None, inside: dict[str | None, list[str]], holders: dict[str, str]) -> list[str]:
        """The items of one nested model or block (or the top level): its layers, each holder among them a
        group of its own layer and the items inside it, then scopes, repeats and ranges."""
        items: list[str] = []
        for name in inside.get(holder, []):
            if name in holders:
                inner = [name, *self._level(name, inside, holders)]
                items.append(self._add(name, holders[name], sorted(inner, key=self._first)))
            else:
                items.append(name)
        words = {item: _WORDS.split(_local(item)) for item in items}
        return self._fold(self._scopes(items, words, 0, holder))

    def _fold(self, items: list[str]) -> list[str]:
        """One level's items with identical neighbours folded and long runs chunked."""
        return self._ranges(self._repeats(items))

    # --------------------------------------------------------------------------------------------- scopes
    def _scopes(self, items: list[str], words: dict[str, list[str]], depth: int, holder: str | None) -> list[str]:
        """Group runs of neighbouring items whose local names share their first ``depth + 1`` words (and say
        more after them than a number), outermost prefix first. Only neighbours: Keras's own names
        (``dense``, ``add``, ``dense_1``, ...) would otherwise gather every layer of one class."""

        def word(item: str) -> str | None:
            w = words[item]
            return w[depth] if len(w) > depth + 1 else None

        result: list[str] = []
        i = 0
        while i < len(items):
            key = word(items[i])
            j = i + 1
            while key is not None and j < len(items) and word(items[j]) == key:
                j += 1
            run = items[i:j]
            shared = _shared_words(run, words, depth + 1) if len(run) > 1 else 0
            if len(run) < 2 or not _names_a_scope(run, words, shared):
                result.append(items[i])
                i += 1
                continue
            if len(run) == len(items):  # every item shares the prefix: the level itself is the scope
                return self._scopes(run, words, shared, holder)
            inner = self._fold(self._scopes(run, words, shared, holder))
            prefix = "_".join(words[run[0]][:shared])
            name = f"{holder}/{prefix}" if holder else prefix
            result.append(self._add(name, "scope", inner) if len(inner) > 1 else inner[0])
            i = j
        return result

    # --------------------------------------------------------------------------------------------- repeats
    def _repeats(self, items: list[str]) -> list[str]:
        """Fold runs of two or more neighbouring groups that are the same block."""
        result: list[str] = []
        i = 0
        while i < len(items):
            j = i + 1
            if items[i] in self.groups:
                signature = self._signature(items[i])
                while j < len(items) and items[j] in self.groups and self._signature(items[j]) == signature:
                    j += 1
            run = items[i:j]
            if len(run) > 1:  # a thousand identical blocks open as ranges of them
                label = f"{_local(run[0])} .. {_local(run[-1])} x{len(run)}"
                result.append(self._add(f"{run[0]}..{run[-1]}", "repeat", self._ranges(run), len(run), label))
            else:
                result.append(run[0])
            i = j
        return result

    def _signature(self, name: str) -> tuple[object, ...]:
        """What makes two blocks the same: each layer's class, output shapes and parameters, and which layers of
        the block feed it (by position in the block; -1 for one outside it)."""
        if name not in self._signatures:
            group = self.groups[name]
            index = {layer: i for i, layer in enumerate(group.layers)}
            parts = []
            for layer in group.layers:
                node = self.graph.node(layer)
                feeds = tuple(sorted(index.get(s, -1) for s in self.sources.get(layer, [])))
                parts.append((node.class_name, node.output_shapes, node.params, feeds))
            self._signatures[name] = (group.kind, tuple(parts))
        return self._signatures[name]

    # --------------------------------------------------------------------------------------------- ranges
    def _ranges(self, items: list[str]) -> list[str]:
        """Chunk a level longer than ``max_items`` into ranges of ranges, every level of the same size (the
        fewest levels that fit: 3,002 layers become 14 ranges of 15 ranges of 15 layers)."""
        if len(items) <= self.max_items:
            return items
        levels = math.ceil(math.log(len(items)) / math.log(self.max_items) - 1e-9)
        size = math.ceil(len(items) ** (1 / levels) - 1e-9)
        while len(items) > self.max_items:
            items = [
                self._range(chunk) if len(chunk) > 1 else chunk[0]
                for chunk in (items[k : k + size] for k in range(0, len(items), size))
            ]
        return items

    def _range(self, chunk: list[str]) -> str:
        first, last = self._end(chunk[0], 0), self._end(chunk[-1], -1)
        layers = sum(len(self.groups[c].layers) if c in self.groups else 1 for c in chunk)
        return self._add(f"{first}..{last}", "range", chunk, label=f"{_local(first)} .. {_local(last)} ({layers})")

    def _end(self, item: str, side: int) -> str:
        """The first (``side`` 0) or last (-1) item a range spans, through the ranges inside it."""
        while item in self.groups and self.groups[item].kind == "range":
            item = self.groups[item].children[side]
        return item

    # --------------------------------------------------------------------------------------------- helpers
    def _add(self, name: str, kind: str, children: Sequence[str], fold: int = 1, label: str = "") -> str:
        if name in self.groups or (kind == "scope" and name in self.position):
            # A prefix met again further on (Keras's own names between its runs), or a layer's name: numbered.
            k = 2
            while f"{name} #{k}" in self.groups:
                k += 1
            name = f"{name} #{k}"
        layers: list[str] = []
        for child in children:
            group = self.groups.get(child) if child != name else None
            layers.extend(group.layers if group is not None else (child,))
            if group is not None:
                self.groups[child] = _with_parent(group, name)
        layers.sort(key=self.position.__getitem__)
        label = label or f"{_local(name)} ({len(layers)})"
        self.groups[name] = Group(name, kind, tuple(children), tuple(layers), None, fold, label)
        return name


def _with_parent(group: Group, parent: str) -> Group:
    return dataclasses.replace(group, parent=parent)


def _local(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _names_a_scope(members: list[str], words: dict[str, list[str]], shared: int) -> bool:
    """Whether the first ``shared`` words the members share name a scope: the rest of some name must say more
    than a number (``conv2_block1_add`` does; Keras's ``batch_normalization_7`` and ``batch_normalization_8``,
    or ``transformer_layer_0`` and ``transformer_layer_1``, only count layers)."""
    return any(_DIGITS.sub("", "".join(words[m][shared:])) for m in members)


def _shared_words(members: list[str], words: dict[str, list[str]], start: int) -> int:
    """How many leading words all ``members`` share (at least ``start``), leaving each at least one of its own."""
    shared = start
    while all(len(words[m]) > shared + 1 for m in members) and len({words[m][shared] for m in members}) == 1:
        shared += 1
    return shared

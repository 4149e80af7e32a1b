"""Checkpoints: the weights of a model at chosen points of its training, and a copy of the model to show them on.

:class:`Snapshots` keeps the weights taken while a model trains (LiveTraining takes them): in memory up to a
byte bound, past it in a temporary folder as Keras ``.weights.h5`` files, removed on :meth:`Snapshots.close`
(or when the object is collected, or Python exits). A checkpoint is shown on a copy of the model
(:func:`copy_model`, made once) with the snapshot's weights loaded: the live model's weights are never touched, so a
worker thread computing for the live model, or training itself, never sees other weights.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import os
import shutil
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..backend import assign_function

__all__ = ["Snapshot", "Snapshots", "copy_model"]

MAX_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Snapshot:
    """One set of weights taken while the model trained.

    ``step`` is the optimizer's step when it was taken, ``epoch`` the number of epochs completed then (None when
    it was taken within an epoch), ``nbytes`` the weights' size and ``path`` the ``.weights.h5`` file it was
    written to once the memory bound was full (None while it is held in memory).
    """

    index: int
    step: int
    epoch: int | None
    nbytes: int
    path: str | None

    @property
    def label(self) -> str:
        """How a slider names it: "epoch 3 (step 120)", or "step 40" within an epoch."""
        return f"step {self.step}" if self.epoch is None else f"epoch {self.epoch} (step {self.step})"


def _check_every(every: Any) -> str | int | None:
    if every is None or every == "epoch":
        return every
    if isinstance(every, (int, np.integer)) and not isinstance(every, bool) and every > 0:
        return int(every)
    raise ValueError(f"snapshots: expected 'epoch', a number of batches (int > 0) or None, got {every!r}")


class Snapshots:
    """Weight snapshots of one model, in memory up to ``max_bytes`` and on disk past it.

    Parameters
    ----------
    every : "epoch", int or None
        When LiveTraining takes one: at each epoch's end, every ``every`` optimizer steps, or never. Either way
        one is taken when training begins, so that "before training" can be looked at too.
    max_bytes : int
        The most bytes of weights held in memory; later snapshots are written to a temporary folder.
    """

    def __init__(self, every: str | int | None = "epoch", max_bytes: int = MAX_BYTES) -> None:
        self.every = _check_every(every)
        if not isinstance(max_bytes, (int, np.integer)) or isinstance(max_bytes, bool) or max_bytes < 0:
            raise ValueError(f"max_snapshot_bytes: expected a number of bytes (int >= 0), got {max_bytes!r}")
        self.max_bytes = int(max_bytes)
        self.items: list[Snapshot] = []
        self._arrays: dict[int, list[np.ndarray]] = {}
        self._folder: str | None = None
        self._cleanup: weakref.finalize | None = None
        # One assign function per model loaded into (the Explorer's copy, loaded again at every slider move), and
        # the arrays it holds now: an array shared with the snapshot to load is not assigned again.
        self._assigners: weakref.WeakKeyDictionary[keras.Model, Any] = weakref.WeakKeyDictionary()
        self._loaded: weakref.WeakKeyDictionary[keras.Model, list[np.ndarray]] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Snapshot:
        return self.items[index]

    @property
    def resident_bytes(self) -> int:
        """Bytes of weights held in memory now (an array that snapshots share counts once)."""
        unique = {id(a): a for arrays in self._arrays.values() for a in arrays}
        return sum(a.nbytes for a in unique.values())

    @property
    def folder(self) -> str | None:
        """The temporary folder of the snapshots written to disk (None before the first)."""
        return self._folder

    def due(self, step: int, epoch_end: bool) -> bool:
        """Whether a snapshot belongs at ``step`` (at an epoch's end when ``epoch_end``)."""
        if self.every is None or (self.items and self.items[-1].step == step):
            return False
        return epoch_end if isinstance(self.every, str) else step % self.every == 0

    def take(self, model: keras.Model, step: int, epoch: int | None) -> Snapshot | None:
        """Keep ``model``'s weights now; None when one was already taken at this step (a second ``fit`` begins
        where the first ended) or snapshots are off."""
        if self.every is None or (self.items and self.items[-1].step == step):
            return None
        index = len(self.items)
        size = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)
        path = None
        # get_weights copies every variable to numpy: later training cannot change what is kept. A weight equal
        # to the last snapshot's (a frozen layer while fine-tuning) shares its array: kept once, loaded once.
        arrays = _shared_with(model.get_weights(), self._arrays[max(self._arrays)] if self._arrays else None)
        kept = {id(a) for held in self._arrays.values() for a in held}
        if self.resident_bytes + sum(a.nbytes for a in arrays if id(a) not in kept) <= self.max_bytes:
            self._arrays[index] = arrays
        else:
            path = os.path.join(self._ensure_folder(), f"snapshot-{index:05d}-step-{step}.weights.h5")
            model.save_weights(path)
        snapshot = Snapshot(index, int(step), epoch, size, path)
        self.items.append(snapshot)
        return snapshot

    def load_into(self, model: keras.Model, index: int) -> None:
        """Give ``model`` (the trained model or a copy of it) the weights of snapshot ``index``."""
        snapshot = self.items[index]
        if snapshot.path is None:
            if model not in self._assigners:
                self._assigners[model] = assign_function(model.weights)
            arrays, held = self._arrays[index], self._loaded.get(model)
            changed = arrays if held is None else [a if a is not b else None for a, b in zip(arrays, held)]
            self._assigners[model](changed)
            self._loaded[model] = list(arrays)
        else:
            self._loaded.pop(model, None)
            model.load_weights(snapshot.path)

    def weights(self, index: int, like: keras.Model) -> list[np.ndarray]:
        """Snapshot ``index``'s weights as numpy arrays, in ``like.get_weights()``'s order (``like``: the trained
        model; a snapshot on disk is read through a copy of it, and ``like`` itself is never changed)."""
        if self.items[index].path is None:
            return list(self._arrays[index])
        holder = copy_model(like)
        holder.load_weights(self.items[index].path)
        return holder.get_weights()

    def clear(self) -> None:
        """Forget every snapshot and remove the files."""
        self.items, self._arrays = [], {}
        self._loaded = weakref.WeakKeyDictionary()
        if self._cleanup is not None:
            self._cleanup()
        self._folder = self._cleanup = None

    close = clear

    def _ensure_folder(self) -> str:
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="nbviz-snapshots-")
            # Removed with this object or at exit, whichever comes first, even if close is never called.
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder


def _shared_with(arrays: list[np.ndarray], previous: list[np.ndarray] | None) -> list[np.ndarray]:
    """``arrays``, where one equals ``previous``'s array in its place replaced by that array."""
    if previous is None or len(previous) != len(arrays):
        return arrays
    return [
        p if p.shape == a.shape and p.dtype == a.dtype and np.array_equal(p, a) else a for a, p in zip(arrays, previous)
    ]


def copy_model(model: keras.Model, sample: Any = None) -> keras.Model:
    """A copy of ``model`` with its own variables (same layers, names and weight order), compiled as it is.

    ``copy.deepcopy`` of a Keras model saves it in the ``.keras`` format in memory and loads it back: that keeps
    what saving keeps, shared (tied) weights included; the model's weights are then set on the copy, so that
    they are exact even where loading skipped a part. A model that cannot be
    saved that way (a subclassed model without ``get_config``) is tried with ``keras.models.clone_model``; a
    copy that is not built yet is built by calling it on ``sample`` (one sample in the structure the model
    takes: :meth:`~nbviz.compute.model.probe.Probe.structured`) and given the model's weights.

    Raises
    ------
    ValueError
        When neither way copies the model, with both reasons.
    """
    weights = model.get_weights()
    try:
        with warnings.catch_warnings():
            # Loading warns of what it skips (the unbuilt optimizer, a nested container): the weights are set below.
            warnings.filterwarnings("ignore", message="Skipping")
            clone = copy.deepcopy(model)
        # Exactly the model's values, whatever loading skipped (set_weights checks the count and the shapes).
        clone.set_weights(weights)
        return _named_as(model, clone)
    except Exception as err:  # noqa: BLE001 - whatever Keras raises, the second way may still work
        first = f"{type(err).__name__}: {_first_line(err)}"
    try:
        try:
            clone = keras.models.clone_model(model, clone_function=_clone_layer)
        except ValueError:  # a custom model class: Keras takes no clone_function for it, and copies its config
            clone = keras.models.clone_model(model)
        if len(clone.weights) != len(model.weights) and sample is not None:
            clone(sample, training=False)
        if not getattr(clone, "compiled", False) and getattr(model, "compiled", False):
            clone.compile_from_config(model.get_compile_config())
        clone.set_weights(weights)
        clone = _named_as(model, clone)
    except Exception as err:  # noqa: BLE001 - whatever Keras raises, the person needs to know why
        raise ValueError(
            f"model: a checkpoint is shown on a copy of {model.name!r}, and Keras could not copy it (saving it "
            f"in memory: {first}; keras.models.clone_model: {type(err).__name__}: {_first_line(err)}). A model "
            "whose __init__ takes layers or models needs a get_config and from_config to be copied."
        ) from err
    return clone


def _named_as(model: keras.Model, clone: keras.Model) -> keras.Model:
    """``clone`` with every layer named as the model's layer in its place: Keras names a layer made without a
    name by counting (the copy of ``input_layer`` is ``input_layer_1``, of a ``dropout_23`` made inside a KerasHub
    block ``dropout_39``), and the Explorer shows the copy under the model's layer names.

    The two layer lists are aligned by class (a trained KerasHub task can track a layer that its copy, made from
    config, does not have yet: those are outside the graph the Explorer shows, which the caller checks)."""
    ours = list(model._flatten_layers(include_self=True, recursive=True))
    theirs = list(clone._flatten_layers(include_self=True, recursive=True))
    matcher = difflib.SequenceMatcher(
        None, [type(layer).__name__ for layer in ours], [type(layer).__name__ for layer in theirs], autojunk=False
    )
    for block in matcher.get_matching_blocks():
        for layer, twin in zip(ours[block.a : block.a + block.size], theirs[block.b : block.b + block.size]):
            if twin.name != layer.name:
                twin.name = layer.name
    return clone


def _clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """Keras's own clone of a layer (from its config), or, for a layer whose ``__init__`` takes no ``**kwargs``
    (as in several Keras examples: the config's ``name``, ``trainable`` and ``dtype`` cannot be passed back),
    one made from the config's entries that ``__init__`` takes, with the layer's trainability."""
    config = layer.get_config()
    try:
        return layer.__class__.from_config(config)
    except TypeError:
        accepted = inspect.signature(layer.__class__.__init__).parameters
        clone = layer.__class__(**{k: v for k, v in config.items() if k in accepted and k != "self"})
        clone.trainable = layer.trainable  # the name is set with the others' (_named_as)
        return clone


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else ""

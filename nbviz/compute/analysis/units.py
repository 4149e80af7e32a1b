"""Questions about one unit of a layer: the explored samples that activate it most, and an input optimised to
activate it (:mod:`nbviz.compute.methods.units`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._arrays import frozen
from ..methods.units import maximize_activation, top_examples
from .answers import Unavailable, grey_picture, picture_strip
from .core import AnalysisCore

TOP_K = 9
STRIP_CELLS = 256  # per picture
#: Below this image side, no blur: half a pixel of blur on an 8 x 8 digit erases the strokes a filter looks for
#: (measured on the demo CNN's conv2: 2 of 32 filters beat their best sample with it, most without).
BLUR_FROM_SIDE = 16


@dataclass(frozen=True, eq=False)
class UnitExamples:
    """The explored samples that activate a unit most, best first: indices and activations; for image data
    their pictures side by side (NaN between them, each on its own 0-1 range) with the activated region of a
    convolution's filter as a box in the strip's cells (k, 4: top, left, bottom, right), None in redact mode or
    for other data; a line of text each."""

    layer: str
    unit: int
    units: int
    indices: np.ndarray
    activations: np.ndarray
    strip: np.ndarray | None
    boxes: np.ndarray | None
    texts: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class UnitMaximum:
    """An input optimised to activate a unit: as a picture (images, on its own range: 0 its darkest, 1 its
    brightest) or its values (tabular, one per feature, scaled to the data's range: 0 its min, 1 its max), its
    activation beside the best explored sample's, and the activation along the way."""

    layer: str
    unit: int
    picture: np.ndarray
    image: bool
    activation: float
    best_sample: float
    history_steps: np.ndarray
    history: np.ndarray
    steps: int
    stopped: bool


class UnitQuestions(AnalysisCore):
    """One unit (a neuron, or a convolution's filter) of a layer over the explored data."""

    def unit_count(self, layer: str) -> int | None:
        """The units of ``layer``'s output (its last axis), or None for an output without a unit axis (or one
        that redact mode withholds: an input-like layer's units are raw input values)."""
        first = self.activations(0).get(layer)
        if first is None or first.ndim < 2 or first.dtype.kind != "f" or len(self.data.x) != 1:
            return None
        if layer in self.hidden_layers:  # its units' activations are raw input values
            return None
        if layer in self.batch_shaped():  # a unit's value is not one sample's: nothing to rank samples by
            return None
        return int(first.shape[-1])

    def _unit_reason(self, layer: str) -> str:
        if layer in self.hidden_layers:
            return f"{layer} passes the raw input on: redact mode withholds its units."
        if len(self.data.x) != 1:
            return f"The unit view needs a model with one input; this one has {len(self.data.x)}."
        across = self.batch_shaped_note(layer, "ranking of samples by a unit")
        if across is not None:
            return across
        return f"{layer} has no units to look at (its output is not float values with a unit axis)."

    def unit_examples(self, layer: str, unit: int, k: int = TOP_K) -> UnitExamples | Unavailable:
        """The ``k`` explored samples that activate ``unit`` of ``layer`` most (a filter: its max over its map)."""
        units = self.unit_count(layer)
        if units is None:
            return Unavailable(self._unit_reason(layer))

        def compute() -> UnitExamples:
            top = top_examples(self.model, self.data.x[0], layer, unit, k, probe=self.probe)
            x = self.data.x[0]
            strip = boxes = None
            if not self.policy.redact and x.ndim >= 3:
                strip = picture_strip([x[i] for i in top.indices], STRIP_CELLS)
                h, w = grey_picture(x[0], STRIP_CELLS).values.shape
                # Pictures at full size: pixels are cells. Only an image batch (n, h, w, c): a video's picture is
                # its frames tiled, whose cells a filter's box does not name.
                if top.boxes is not None and x.ndim == 4 and (h, w) == x.shape[1:3]:
                    offsets = np.arange(len(top.indices), dtype=np.float32) * (w + 1)
                    boxes = top.boxes - 0.5 + np.column_stack([0 * offsets, offsets, 0 * offsets, offsets])
            texts = tuple(f"#{i}: {a:.4g}" for i, a in zip(top.indices, top.activations))
            return UnitExamples(
                layer, unit, units, top.indices, top.activations, strip, None if boxes is None else frozen(boxes), texts
            )

        return self._ask(("unit examples", layer, unit, k), compute)

    def maximize_reason(self) -> str:
        """Why no input can be optimised to activate a unit of this model, in one line ('' when one can): the
        climb moves a float input along its gradient, and integer inputs (token ids) or boolean ones have none."""
        x = self.data.x[0]
        if x.dtype.kind != "f":
            return (
                f"Maximise activation is not offered: it climbs the input along its gradient, and this model's "
                f"input is {x.dtype} (token ids or flags), which has none."
            )
        return ""

    def maximize(
        self,
        layer: str,
        unit: int,
        cancelled: Callable[[], bool] | None = None,
        on_step: Callable[[int, float], None] | None = None,
        steps: int = 256,
    ) -> UnitMaximum | Unavailable:
        """An input optimised to activate ``unit`` of ``layer``
        (:func:`nbviz.compute.methods.units.maximize_activation`, seed 0, within the explored data's range); kept
        once it ran to the end, not when ``cancelled`` stopped it."""
        if self.unit_count(layer) is None:
            return Unavailable(self._unit_reason(layer))
        if self.maximize_reason():
            return Unavailable(self.maximize_reason())
        key = (self.version, "maximized", layer, unit, steps)
        done = self.memo.peek(key)
        if done is not None:
            return done
        x = self.data.x[0]
        image = x.ndim >= 3
        blur = 0 if image and min(x.shape[1:3]) < BLUR_FROM_SIDE else 4
        # A filter's map: climb its middle neuron (the mean of a filter with mostly positive weights is climbed by
        # an image bright everywhere, which says nothing); the activation shown is still its max over the map.
        spatial = self.activations(0)[layer].ndim > 2
        found = maximize_activation(
            self.model, layer, unit, data=x, steps=steps, blur_every=blur, probe=self.probe,
            on_step=on_step, cancelled=cancelled, objective="center" if spatial else "mean",
        )  # fmt: skip
        best = self.unit_examples(layer, unit, 1)
        best_value = float(best.activations[0]) if isinstance(best, UnitExamples) else float("nan")
        if image:  # on its own range, as the samples of the strip
            shown_picture = grey_picture(found.input, STRIP_CELLS)
            picture = frozen((shown_picture.values - shown_picture.vmin) / (shown_picture.vmax - shown_picture.vmin))
        else:
            lo, hi = x.min(axis=0), x.max(axis=0)
            picture = frozen((found.input - lo) / np.where(hi > lo, hi - lo, 1.0))
        shown = UnitMaximum(
            layer, unit, picture, image, found.activation, best_value, found.history_steps, found.history,
            found.steps, found.stopped,
        )  # fmt: skip
        if not found.stopped:
            self.memo.put(key, shown)
        return shown

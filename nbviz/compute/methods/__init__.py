"""One algorithm per module (saliency, SHAP, attention heads, units, rules, diagnostics, projections, ...): numpy
in, frozen dataclasses out, no memo. Imports the floors below: ``data``, ``model``, the ground, ``backend``."""

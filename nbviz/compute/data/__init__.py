"""The user's data, checked once: samples in the structure the model takes, tokens as text, the display policy
and redact mode, samples left out for NaN or Inf. Imports the floors below: ``model``, the ground, ``backend``."""

"""nbviz: explore a Keras 3 model's weights, activations and gradients interactively in Jupyter."""

__version__ = "0.1.0"

"""Reading one Keras model: its layer graph and groups, every layer's output and gradient from one compiled pass
(the probe, with the recording and the loss written once over the backend seam), its weights' version and
checkpoints. Imports only the ground (``_arrays``, ``_validate``) and ``backend``."""

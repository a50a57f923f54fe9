"""Inception Lab: the helper package of a notebook course on the Inception family of CNNs.

The notebooks import from its modules directly, one home per concept: `blocks` (layers and
Inception blocks), `models` (networks, one architecture a file, and the registry), `profile`
(parameter and MAC counting; `costtable` and `receptive_field` beside it), `metrics` (accuracy,
calibration, label-smoothing maths), `viz` (figures), `widgets` (explorers), `data` (datasets and
loaders), `train` (the training engine) and `checks` (exercise feedback). docs/architecture.md
draws what depends on what.
"""

__version__ = "0.1.0"

"""Inception Lab: the helper package of a notebook course on the Inception family of CNNs.

The notebooks import from its modules directly, one home per concept:
`blocks` (layers and Inception blocks), `models` (networks and the registry), `profile`
(parameter and MAC counting), `viz` (figures), `widgets` (explorers), `data` (datasets and
loaders), `train` (the training engine) and `checks` (exercise feedback).
"""

__version__ = "0.1.0"

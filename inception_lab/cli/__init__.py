"""The command lines, a layer above everything they drive (docs/architecture.md):

- `train.py`: `python -m inception_lab.train`, one training run of a course model on a dataset
  (its fit flags are generated from `train.FitConfig`);
- `experiments.py`: `python -m inception_lab.experiments list | show | run | verify`, the
  experiment ledger.

`python -m inception_lab.train` and `python -m inception_lab.experiments` reach them through the
two packages' `__main__.py`, which only call `main`; nothing else in the package imports `cli`.
"""

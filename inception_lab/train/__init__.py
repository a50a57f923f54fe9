"""The training engine: one loop for a laptop CPU, one GPU, or many GPUs under `torchrun`.

    history = train.fit(model, data.make_loaders("shapes"), epochs=5)  # trains `model` in place
    viz.plot_history(history)

One idea a file, read in this order:
- `device.py`: which device trains (`pick_device`, LOCAL_RANK under torchrun) and the CUDA
  switches that trade reproducibility for speed (`configure_backends`);
- `precision.py`: mixed precision (`choose_amp`, the GradScaler) and channels_last;
- `optim.py`: the loss with auxiliary heads and label smoothing, optimizers, schedules;
- `config.py`: `FitConfig`, every option of `fit` (default, check, help) in one place;
- `loop.py`: `fit`, the loop itself; `evaluation.py`: `evaluate` and `predict`;
- `history.py`: `History` and `TrainingDiverged`; `checkpoint.py`: exact resume;
- `distributed.py`: DistributedDataParallel and SyncBatchNorm; `progress.py`: bars and lines;
- `__main__.py`: `python -m inception_lab.train --help` starts the command line, which lives in
  `inception_lab/cli/train.py` (its fit flags are generated from FitConfig).
"""

from inception_lab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from inception_lab.train.config import SMOKE_MAX_EPOCHS, FitConfig
from inception_lab.train.device import configure_backends, pick_device, rank_device
from inception_lab.train.distributed import dist_backend
from inception_lab.train.evaluation import evaluate, predict
from inception_lab.train.history import History, TrainingDiverged
from inception_lab.train.loop import fit
from inception_lab.train.optim import (
    DEFAULT_LR,
    DEFAULT_WEIGHT_DECAY,
    OPTIMIZERS,
    SCHEDULES,
    make_optimizer,
    make_schedule,
    training_loss,
)
from inception_lab.train.precision import AMP_MODES, AmpChoice, choose_amp

__all__ = [
    "AMP_MODES",
    "DEFAULT_LR",
    "DEFAULT_WEIGHT_DECAY",
    "OPTIMIZERS",
    "SCHEDULES",
    "SMOKE_MAX_EPOCHS",
    "AmpChoice",
    "CheckpointError",
    "FitConfig",
    "History",
    "TrainingDiverged",
    "choose_amp",
    "configure_backends",
    "dist_backend",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_optimizer",
    "make_schedule",
    "pick_device",
    "predict",
    "rank_device",
    "save_checkpoint",
    "training_loss",
]

"""Progress output of a training run: bars where someone watches, plain lines in a log.

tqdm.auto draws widgets in Jupyter and text bars in a terminal; a log file (no terminal, no
notebook) gets only the one-line summary of each epoch.
"""

from __future__ import annotations

import sys

from inception_lab.train.history import summary

__all__ = ["Progress"]


def _progress_mode() -> str:
    """'notebook' in a Jupyter kernel (JupyterLab, papermill, nbval), 'tty' in a terminal,
    'log' when output goes to a file or pipe (no bars there: they would flood the log)."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython installed
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
        return "notebook"
    return "tty" if sys.stderr.isatty() else "log"


class Progress:
    """An epoch bar and a batch bar (tqdm.auto: widgets in Jupyter, text in a terminal), and the
    per-epoch summary lines. Silent when disabled (progress=False, or ranks other than 0).

    The batch bar is created once and reset every epoch: a notebook gets exactly two widgets
    (and a saved or papermill-executed notebook shows them in their final state), a terminal
    two lines. In a log file (no terminal, no notebook) there are no bars, only summary lines.
    """

    def __init__(self, enabled: bool, epochs: int, start: int, steps: int | None):
        self.enabled = enabled
        mode = _progress_mode() if enabled else "log"
        self.epoch_bar = self.batch_bar = None
        if mode != "log":
            from tqdm.auto import tqdm

            self.epoch_bar = tqdm(total=epochs, initial=start, desc="epochs", unit="epoch")
            # In a terminal the batch bar disappears at the end; in a notebook it stays, showing
            # the last epoch's final loss and accuracy.
            self.batch_bar = tqdm(
                total=steps, desc="batches", unit="batch", leave=mode == "notebook"
            )

    def start_epoch(self, epoch: int, epochs: int, steps: int | None) -> None:
        if self.batch_bar is not None:
            self.batch_bar.reset(total=steps)
            self.batch_bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)

    def batches(self, n: int, loss: float, acc: float) -> None:
        if self.batch_bar is not None:
            self.batch_bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.1%}", refresh=False)
            self.batch_bar.update(n)

    def end_epoch(self, record: dict, epochs: int) -> None:
        if self.batch_bar is not None:
            self.batch_bar.refresh()
        if self.epoch_bar is not None:
            if record["val_acc"] is not None:
                self.epoch_bar.set_postfix(val_acc=f"{record['val_acc']:.1%}", refresh=False)
            self.epoch_bar.update(1)
        self.say(f"epoch {record['epoch']}/{epochs}  {summary(record)}")

    def say(self, message: str) -> None:
        if not self.enabled:
            return
        if self.epoch_bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(message)  # printed above the bars, which stay intact
        else:
            print(message, flush=True)

    def close(self) -> None:
        for bar in (self.batch_bar, self.epoch_bar):
            if bar is not None:
                bar.close()
        self.batch_bar = self.epoch_bar = None

"""Figures for the course: costs, block diagrams, receptive fields, training curves, calibration,
and pictures of the data. One module per kind of figure:

- `costs`: parameters and MACs per branch, per layer, per block of a stack; the cost map and
  accuracy against MACs (torchvision's models as reference points);
- `diagrams`: Inception blocks drawn from the modules, and receptive fields;
- `curves`: training curves of one or several runs (`plot_history`);
- `ledger`: the experiment ledger's results over seeds (`plot_seeds`, `plot_seeds_by_scale`),
  drawn from the rows `experiments.summarize` returns, and paired differences with their
  intervals (`plot_differences`);
- `calibration`: reliability diagrams, confidence histograms, label smoothing;
- `data`: `show_batch` and `show_scales`.

Every function returns a matplotlib `Figure` (made with pyplot, so a notebook cell that ends with
`plt.show()` displays it) and works headless with the Agg backend. The maths behind the
calibration and label-smoothing figures lives in `inception_lab.metrics` and is re-exported
here (`viz.calibration_bins`, `viz.smoothed_target`, ...) for the notebooks. `viz` draws what it is
given: it imports neither the ledger nor the training engine (docs/architecture.md).
"""

from ..metrics import calibration_bins, smoothed_target, smoothing_loss_curve, smoothing_optimum
from .calibration import plot_confidence_hist, plot_label_smoothing, plot_reliability
from .costs import (
    REFERENCE_MODELS,
    course_costs,
    course_models,
    plot_accuracy_vs_macs,
    plot_branch_costs,
    plot_cost_map,
    plot_layer_costs,
    plot_published_errors,
    plot_stack_growth,
    reference_costs,
)
from .curves import plot_history
from .data import show_batch, show_scales
from .diagrams import draw_block, draw_blocks, plot_receptive_field
from .ledger import plot_differences, plot_seeds, plot_seeds_by_scale

__all__ = [
    "REFERENCE_MODELS",
    "calibration_bins",
    "course_costs",
    "course_models",
    "draw_block",
    "draw_blocks",
    "plot_accuracy_vs_macs",
    "plot_branch_costs",
    "plot_confidence_hist",
    "plot_cost_map",
    "plot_differences",
    "plot_history",
    "plot_label_smoothing",
    "plot_layer_costs",
    "plot_published_errors",
    "plot_receptive_field",
    "plot_reliability",
    "plot_seeds",
    "plot_seeds_by_scale",
    "plot_stack_growth",
    "reference_costs",
    "show_batch",
    "show_scales",
    "smoothed_target",
    "smoothing_loss_curve",
    "smoothing_optimum",
]

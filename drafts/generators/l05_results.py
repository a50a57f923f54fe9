"""Settings and result-dependent prose of lesson 05 (filled in after looking at the numbers)."""

RESULTS = {
    "TRAIN_SIZE_CPU": "2048",
    "EPOCHS_CPU": "5",
    "LR_SAME": "0.05",
    "VAL_SIZE": "500",
    "TARGET_ACC": "0.15",
    "ASSERTS_TRAINING": "assert len(histories) == 4",
    "ASSERTS_STEPS": "assert budget > 0",
    "ASSERTS_DRIFT": "assert drift(f'BN, lr {LR}')[1] > 0",
    "FIGURE_PROSE": "(figure prose)",
    "STEPS_PROSE": "(steps prose)",
    "DRIFT_PROSE": "(drift prose)",
    "PAPER_PROSE": "(paper prose)",
    "SUMMARY_RESULT": "- (result)",
}

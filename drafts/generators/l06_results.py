"""Settings and result-dependent prose of lesson 06 (filled in after looking at the numbers)."""

RESULTS = {
    "MODEL_NAME": "mini_factorized",
    "MODEL_DESCRIPTION": "the course's mini Inception v3 (`models.mini_factorized`, with BN)",
    "TRAIN_SIZE_CPU": "4096",
    "EPOCHS_CPU": "3",
    "ASSERTS_PREDICT": "assert len(predictions) == 2",
    "HIST_PROSE": "(hist prose)",
    "ASSERTS_ECE": "assert len(predictions) == 2",
    "RELIABILITY_PROSE": "(reliability prose)",
    "ASSERTS_COMPARE": "assert len(predictions) == 2",
    "COMPARE_PROSE": "(compare prose)",
    "SUMMARY_RESULT": "- (result)",
}

"""A run on disk and the safety around the training loop: the run session, run directories and their lock,
the training state in a checkpoint, resume, signals, metrics, progress and callbacks."""

"""Many runs: seeds in parallel processes, hyperparameter sweeps on Ray Tune, statistics and ranking. Imports the
rest of deepq; nothing in deepq imports it back (but the public `deepq.train_seeds`)."""

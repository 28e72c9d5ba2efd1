"""Greedy evaluation on seeded episodes, the random baseline, and when a run counts as solved."""

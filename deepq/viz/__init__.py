"""Showing runs: learning curves, videos of greedy episodes, notebook animation and live curves."""

"""Environments: making and checking them (ids, factories, kwargs, wrappers), their spaces as JSON, and their
exact state for a bit-identical resume; Acrobot stepped as arrays."""

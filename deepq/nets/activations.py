"""The hidden-layer activations a config can name: one definition, shared by the networks, the config's choices
and the fast path (deepq.fast.handgrad keys its hand-written backward kernels by these module classes)."""

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU,
                                           "silu": nn.SiLU}

"""Experience: replay buffers (uniform, prioritized, loss-softmax, online), the PER math and sum tree, and the
collector that moves transitions from the environment to the buffer (n-step folding, terminated vs truncated)."""

"""The optional speed path for deepq's own MLPs: flat weight vectors, a hand-written backward pass, a fused Adam.
Reached only through `deepq.algo.learner.make_learner`; tests train it side by side with the autograd learner."""

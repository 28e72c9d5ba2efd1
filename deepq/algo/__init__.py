"""The DQN algorithm, with no environment and no files: TD targets and losses (pure functions), objectives, the
learner interface and its autograd back-end, the agent (acting, learning, saving), schedules."""

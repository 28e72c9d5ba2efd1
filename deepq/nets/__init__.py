"""The Q-networks: deepq's plain and dueling MLPs, the one list of activations, and the builder that picks a
network from the observation space or a user's factory."""

"""A test problem that records what optimizers ask it to evaluate."""
from optsuite.problems.synthetic import Sphere


class RecordingSphere(Sphere):
    """A sphere that keeps every population ``[P, dim]`` it evaluates, in order."""

    def __init__(self, dim):
        super().__init__(dim)
        self.populations = []

    def evaluate(self, params, draw):
        self.populations.append(params.clone())
        return super().evaluate(params, draw)

"""Speed benchmarks; ``population_eval`` is also the ``optsuite bench`` command."""

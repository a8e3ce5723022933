"""The problem catalogue: datasets, synthetic functions, NoProp blocks and whole networks."""

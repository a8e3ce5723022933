"""Optimizer families, one module each; every module here registers itself on import."""

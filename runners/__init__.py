"""Benchmark matrices: spec parsing, cell expansion, parallel execution, results store."""

"""Benchmarks: quality beside baselines, throughput, latency and memory, written to bench/results/."""

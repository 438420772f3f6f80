"""Benchmarks: each calls the product packages' public functions; registered as bench_* worker ops."""

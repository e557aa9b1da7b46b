"""Submission engine: create ad campaigns on rate-limited demand-side platforms (DSPs)."""

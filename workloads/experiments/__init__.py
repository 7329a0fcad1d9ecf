"""Reproducing the seismic imaging paper's experiments: cost and resilience models, the run-timing
schema and the published numbers (data/published.json). No boto3 here: the launchers that talk to
AWS live in tools/experiments/."""

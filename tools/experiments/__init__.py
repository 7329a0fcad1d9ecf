"""Launchers, timing collection and figures for re-running the seismic imaging paper's experiments on
a deployed BatchStack. The models and the published numbers are in workloads/experiments/."""

"""Re-running the seismic imaging paper's experiments (Witte et al.) on a deployed BatchStack.

The models and the published numbers (cost.py, resilience.py, timings.py, published.py and
data/published.json) need no AWS; the launchers (plans.py, runner.py, chaos.py, spot.py), the timing
collection (collect.py) and the figures (figures.py) talk to a deployment through boto3 clients passed
in. What they know of the deployment they read from its outputs (outputs.py), never from stacks/.
`hpcx reproduce` is the command line (`python -m reproduce` takes the same arguments).
"""

"""LS-RTM with stochastic gradient descent: the workflow's logic, free of AWS.

- params:    the execution input (validated) and derived values (step size)
- layout:    where every object of a run lives in the bucket (one place)
- shots:     which shots an iteration uses (deterministic, no duplicates)
- messages:  the partial-gradient and curvature messages a worker sends to the reducer
- reduction: exactly-once accumulation of partial gradients, streamed
- sgd:       the image update
- line_search: the exact step rule (per-shot curvature terms summed exactly once, the step along -G)
- store:     the object-store interface the above need (S3 in the cloud, memory in tests)
"""

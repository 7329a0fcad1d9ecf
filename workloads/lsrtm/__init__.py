"""LS-RTM with stochastic gradient descent: the workflow's logic, free of AWS.

- params:    the execution input (validated) and derived values (step size)
- layout:    where every object of a run lives in the bucket (one place)
- shots:     which shots an iteration uses (deterministic, no duplicates)
- messages:  the partial-gradient message a worker sends to the reducer
- reduction: exactly-once accumulation of partial gradients, streamed
- sgd:       the image update
- store:     the object-store interface the above need (S3 in the cloud, memory in tests)
"""

"""AutoMon cross-region monitoring runtime: ZeroMQ coordinator and nodes, centralization baseline.

- constants:        port, node types and their published defaults (counts, error bounds, pacing), seeds
- protocol:         control frames, the 12-byte header, encode/decode of every message with validation
- accounting:       per-peer message and byte counters at our socket layer (no nethogs)
- transport:        the ROUTER (coordinator) and DEALER (node) sockets, counted, with connection monitors
- streams:          event logs and each node's sliding-window local vector
- synthetic:        seeded streams (inner_product, quadratic) and stand-ins (kld, dnn)
- datasets:         external air-quality and KDD data: fetch command (`python -m workloads.automon.datasets`)
                    and readers; never touched at import
- data:             the event log of a run configuration
- functions:        the monitored functions over an array namespace (numpy, autograd, jax)
- config:           one run's validated settings
- centralization:   the baseline's coordinator and node cores (all in our code)
- automon_backend:  the AutoMon algorithm through the `automon` package, when installed
- numpy_compat:     NumPy-1 names the package still calls (np.alltrue), restored before its import
- inprocess / selfcheck / pacing: the AutoMon cores in one process; the image's build-time check
                    (one lazy sync); the full-sync timing that refuses a tick too short for it
- max_error:        the paper's max approximation error, from the runs' full-sync histories
- coordinator/node: the two processes' loops (barrier, routing, pacing, shutdown)
- runner / local:   build and run a participant; a whole run on 127.0.0.1
- results:          results JSON schema and writer
- cli:              `python -m workloads.automon {coordinator,node,local,schema}`
"""

"""Ports, limits and defaults of the rendezvous protocol and the communicator (one source of truth)."""

from __future__ import annotations

RENDEZVOUS_PORT = 10000  # TCPunch's default, and FMI's `backends.Direct.port`
HEALTH_PORT = 8080  # plain HTTP GET /health on the rendezvous container
MAX_PAIRING_NAME_BYTES = 100  # TCPunch's MAXPAIRINGNAME: one recv of at most 100 bytes
PEER_DATA_BYTES = 8  # sizeof(PeerConnectionData) on x86-64: in_addr (4) + in_port_t (2) + padding (2)

# Server defaults (all overridable on the command line).
NAME_TIMEOUT_S = 10.0  # a client must send its pairing name this soon after connecting
PAIR_TIMEOUT_S = 900.0  # unmatched names expire after the longest a Lambda can run
MAX_CONNECTIONS = 10_000
WRITE_TIMEOUT_S = 5.0

# Communicator defaults.
DEFAULT_OP_TIMEOUT_S = 300.0  # generous on purpose: FMI's 1 s default failed any wait for a slower rank
COMM_NAME_PREFIX = "cosmicai"

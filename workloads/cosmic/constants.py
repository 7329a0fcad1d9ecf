"""Ports, limits and defaults of the rendezvous protocol and the communicator (one source of truth)."""

from __future__ import annotations

RENDEZVOUS_PORT = 10000  # TCPunch's default, and FMI's `backends.Direct.port`
HEALTH_PORT = 8080  # plain HTTP GET /health on the rendezvous container
MAX_PAIRING_NAME_BYTES = 100  # TCPunch's MAXPAIRINGNAME: one recv of at most 100 bytes
PEER_DATA_BYTES = 8  # sizeof(PeerConnectionData) on x86-64: in_addr (4) + in_port_t (2) + padding (2)

# Server defaults (all overridable on the command line).
NAME_TIMEOUT_S = 10.0  # a client must send its pairing name this soon after connecting
# A name waits alone this long; then the server closes the connection and our client registers the name
# again (each wait ties up a connection, so an abandoned or abusive name holds it briefly, not for 900 s).
PAIR_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 10_000
# Descriptors the server needs besides its rendezvous connections: the two listening sockets, health
# checks, the log stream, the interpreter's own files, and an accepted-then-refused connection or two.
FD_RESERVE = 64
# Connections from one source address. A rank holds at most one rendezvous connection at a time, and ranks
# may share a NAT address (Lambda's egress IPs are shared), so this must be at least the largest world that
# can sit behind one address; the FmiStack sets it from fmi.max_world_size (twice it, at least this).
MAX_PER_ADDRESS = 256
# Waiting names are capped at this share of max_connections: the rest stays free for the partners that
# complete pairs (always served) and for clients still sending their names.
WAITING_SHARE = 0.75
STATS_INTERVAL_S = 60.0  # one INFO line with the counters this often (pairings themselves log at DEBUG)
WRITE_TIMEOUT_S = 5.0

# Communicator defaults.
DEFAULT_OP_TIMEOUT_S = 300.0  # generous on purpose: FMI's 1 s default failed any wait for a slower rank
COMM_NAME_PREFIX = "cosmicai"

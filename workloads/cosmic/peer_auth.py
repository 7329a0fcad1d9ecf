"""Knowing who answered at the rendezvous: a per-execution secret and a signed hello.

The rendezvous server pairs whoever sends the same name first, and anyone on the internet can reach it.
A name derived from public facts (the execution's name) can be registered by a squatter before rank 0,
who then learns rank 0's endpoint and breaks the run. So:

- the communicator name carries random characters (`payload.new_comm_name`), so a stranger cannot guess
  a pairing name in the first place;
- every rank of an execution also receives a secret (`new_secret`, made once per execution by the
  validate step) that never goes to the server, and after the punch each side sends a hello with an
  HMAC, keyed from the secret, over who it is and over both public endpoints the server reported. A
  stranger, or a replay from another pairing, cannot produce it; the rank then pairs again, and fails
  with PeerAuthenticationFailed only if its deadline passes.

The server needs neither: the TCPunch wire protocol is unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets

from workloads.cosmic.tcpunch_protocol import Endpoint

SECRET_HEX = re.compile(r"[0-9a-f]{32,128}")
_KEY_CONTEXT = b"cosmicai rendezvous hello v1"


def new_secret() -> str:
    """128 random bits, as hex (fits a JSON payload and an environment variable)."""
    return secrets.token_hex(16)


def check_secret(secret: str) -> str:
    if not isinstance(secret, str) or not SECRET_HEX.fullmatch(secret):
        raise ValueError("the communicator secret must be 32 to 128 lower-case hex digits (see peer_auth.new_secret)")
    return secret


def hello_key(secret: str) -> bytes:
    """The key that signs hellos: derived, so the secret itself is never used directly on the wire."""
    return hmac.new(check_secret(secret).encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def hello_mac(key: bytes, *, comm: str, world_size: int, sender: int, receiver: int,
              sender_endpoint: Endpoint, receiver_endpoint: Endpoint) -> str:
    """The signature a `sender` puts in its hello to `receiver`; the endpoints bind it to this pairing."""
    message = json.dumps(["hello", comm, world_size, sender, receiver, str(sender_endpoint), str(receiver_endpoint)],
                         separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def valid_mac(key: bytes, mac: object, **fields: object) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(mac, hello_mac(key, **fields))

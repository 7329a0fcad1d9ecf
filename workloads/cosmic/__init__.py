"""Cosmic AI runtime: TCPunch rendezvous server, a Lambda communicator with collectives, AstroMAE inference.

The package itself imports nothing: the rendezvous server needs only the standard library, the
communicator adds numpy, and only `astromae`, `dataset` and `inference` import torch.
"""

"""The process's open-file limit raised to its hard limit at start, for thousands of open streams.

Each open stream holds two sockets (the client's and the provider's), and Linux starts processes with a soft
limit of 1,024 open files: a worker would refuse connections (EMFILE) near 500 streams. The hard limit (often
524,288 under systemd, 1,048,576 in containers) is the ceiling the operator set; raising the soft one up to it
needs no privilege. Called once by gateway_project/asgi.py, which every serving command loads.
"""
from __future__ import annotations

try:
    import resource
except ImportError:  # not on Unix: nothing to raise
    resource = None


def raise_to_hard_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return (before, after). Never fails the start."""
    if resource is None:
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return (soft, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # e.g. a sandbox that forbids it: serve with what there is
        return (soft, soft)
    return (soft, hard)

"""Where the Ray actors run: a cluster the user names, or a local Ray that only this machine can reach.

A local Ray started by ``ray.init()`` listens on every network interface (its GCS, raylet and worker
gRPC servers bind the node's routable address), and anyone who reaches those ports can run code in
it. :func:`init_ray` starts it on the loopback address instead: Ray's own switch for that is
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (the node address becomes 127.0.0.1 and every Ray process
binds it), read when ``ray`` is imported, so it is also set on the imported constants. To spread a
rollout over machines, start a real cluster and pass its address (``--ray-address``; README).
"""
from __future__ import annotations

import os

#: Ray's switch between a node reachable from other machines (1) and a loopback-only node (0)
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def init_ray(address: str | None, num_cpus: int) -> None:
    """Connect to the Ray cluster at ``address`` ("auto" or host:port), or, when ``address`` is empty,
    start a local Ray with ``num_cpus`` CPUs that listens on 127.0.0.1 only. Nothing happens when
    Ray is already initialised in this process."""
    if not address:
        os.environ[LOOPBACK_SWITCH] = "0"  # before the import, and inherited by Ray's processes
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # ray may have been imported before the variable was set
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)

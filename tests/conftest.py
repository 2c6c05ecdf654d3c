"""Shared fixtures: one Ray instance for the whole test session (Ray takes seconds to start)."""
import pytest


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray with 2 CPUs (on 127.0.0.1, as the harness starts it), started once; tests that roll
    out on Ray take this fixture."""
    ray = pytest.importorskip("ray")
    from harness.rollout import init_ray

    init_ray(None, 2)
    yield ray
    ray.shutdown()

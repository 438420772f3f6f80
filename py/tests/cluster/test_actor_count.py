"""The Ray engine sizes its actors from what the cluster has (ray.cluster_resources())."""

from __future__ import annotations

from linkedout.cluster.ray_launcher import actor_count


def test_one_actor_per_gpu_as_many_as_the_cluster_holds() -> None:
    box = {"CPU": 96.0, "GPU": 8.0, "memory": 1e12}
    assert actor_count(box, 1.0, 1.0, 310) == 8  # an 8-GPU box runs 8 shards at once (not 2)
    assert actor_count(box, 0.5, 1.0, 310) == 16  # two actors share each GPU
    assert actor_count(box, 2.0, 1.0, 310) == 4
    assert actor_count(box, 1.0, 1.0, 3) == 3  # no more actors than unfinished shards
    assert actor_count({"CPU": 4.0, "GPU": 8.0}, 1.0, 1.0, 310) == 4  # each actor needs its CPUs too
    assert actor_count({"CPU": 16.0, "GPU": 8.0}, 1.0, 0.0, 310) == 8


def test_cpu_only_clusters_and_what_does_not_fit() -> None:
    assert actor_count({"CPU": 2.0}, 0.0, 1.0, 4) == 2
    assert actor_count({"CPU": 64.0}, 0.0, 8.0, 100) == 8
    assert actor_count({"CPU": 3.0, "GPU": 0.0}, 0.0, 1.5, 100) == 2
    assert actor_count({"CPU": 8.0, "GPU": 1.0}, 2.0, 1.0, 10) == 0  # not even one actor: the launcher says so
    assert actor_count({"CPU": 1.0}, 0.0, 2.0, 10) == 0

"""A synthetic catalogue at production scale for the serving benches (``lo-exp bench serve --items N``).

No trained run of MicroLens size exists on the build machine, so the vectors come from the bench model's
own item tower (``bench.serve.bench_model``: the default Cross-Layer MoE fuser, random weights, paper
shapes) applied to per-layer vectors ẽ(l) drawn from a mixture of topics — videos of one topic share a
centre, as real catalogues cluster by content:

    topic t ~ uniform over `topics`;  ẽ_i = c_t + spread · ε,  c_t, ε ~ N(0, I) in [taps, d_c]
    z_i = fuser(ẽ_i)                                                          [n_items, d_z]

Histories are "real" in the sense the ranker sees them: a user follows 1–3 topics and the history is 10
items drawn from them, oldest first. Query vectors are the bench model's user tower over those histories.
Everything is generated in chunks (1M items × 6 taps × 256 floats of ẽ would be 6 GB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from linkedout.model.recommender import LinkedOutRecommender


@dataclass(frozen=True)
class TopicCatalogue:
    z: torch.Tensor  # [n_items, d_z] float32
    gates: torch.Tensor  # [n_items, taps]
    topic: np.ndarray  # [n_items] int64
    centres: torch.Tensor  # [topics, taps, d_c]


@torch.inference_mode()
def topic_catalogue(model: LinkedOutRecommender, n_items: int, taps: int, d_c: int, *, topics: int = 1000,
                    spread: float = 1.0, seed: int = 0, chunk: int = 50_000, first_row: int = 0,
                    centres: torch.Tensor | None = None) -> TopicCatalogue:
    """n_items vectors through the model's fuser. Pass ``centres`` (and another ``seed``/``first_row``) to
    draw more items of the same catalogue (the items ``add`` appends in the during-add test)."""
    if centres is None:
        centres = torch.randn(topics, taps, d_c, generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed * 1_000_003 + first_row + 1)
    topic = torch.randint(0, centres.shape[0], (n_items,), generator=gen)
    fuser = model.item_encoder.content["fuser"]  # type: ignore[index]
    zs, gs = [], []
    for s in range(0, n_items, chunk):
        t = topic[s : s + chunk]
        e = centres[t] + spread * torch.randn(len(t), taps, d_c, generator=gen)  # [c, taps, d_c]
        out = fuser(e)
        zs.append(out.z.float())
        gs.append(out.gates.float())
    return TopicCatalogue(z=torch.cat(zs), gates=torch.cat(gs), topic=topic.numpy(), centres=centres)


def topic_histories(topic: np.ndarray, n_users: int, length: int, seed: int = 0) -> np.ndarray:
    """[n_users, length] catalogue rows: each user follows 1-3 topics, history drawn from their items."""
    rng = np.random.default_rng(seed)
    order = np.argsort(topic, kind="stable")
    bounds = np.searchsorted(topic[order], np.arange(int(topic.max()) + 2))
    out = np.empty((n_users, length), dtype=np.int64)
    for u in range(n_users):
        followed = rng.choice(int(topic.max()) + 1, size=int(rng.integers(1, 4)), replace=False)
        for j in range(length):
            t = followed[rng.integers(0, len(followed))]
            lo, hi = bounds[t], bounds[t + 1]
            out[u, j] = order[rng.integers(lo, hi)] if hi > lo else rng.integers(0, len(topic))
    return out

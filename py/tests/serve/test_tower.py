"""serve.tower: the frozen graph serves only when it gives the module's user vectors bit for bit; a tower
the trace gets wrong, or cannot trace, is served eagerly with one line saying why."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from linkedout.model.config import RankerConfig
from linkedout.model.rankers import build_user_encoder
from linkedout.protocol.op import OpContext, OpError
from linkedout.serve.ops import embed, recommend
from linkedout.serve.tower import probe_batches, serving_tower


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("name", ["sasrec", "nextitnet"])
def test_a_frozen_tower_serves_the_modules_vectors_bit_for_bit(name: str, norm: str) -> None:
    torch.manual_seed(0)
    encoder = build_user_encoder(32, dataclasses.replace(RankerConfig(), name=name, norm=norm), 0.1).eval()
    tower = serving_tower(encoder, d_z=32, max_history=10)
    assert tower.mode == "frozen" and tower.note is None
    assert isinstance(tower.forward, torch.jit.ScriptModule)
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for batch in (1, 2, 64):  # 2 and 64: batch sizes the probes did not use
            for width in (1, 4, 10):
                lengths = torch.randint(1, width + 1, (batch,), generator=g)
                lengths[-1] = width
                history = torch.randn(batch, width, 32, generator=g)
                assert torch.equal(tower(history, lengths), encoder(history, lengths)), (batch, width)


class BranchingTower(nn.Module):
    """Data-dependent control flow: a trace records only the branch its example took."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        last = history_z[torch.arange(history_z.shape[0]), lengths - 1]
        if bool(lengths.max() > 5):
            return self.proj(last)
        return last


class DictTower(nn.Module):
    """Returns a dict: torch.jit.trace refuses such outputs by default."""

    def forward(self, history_z: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"u": history_z[:, 0]}


def test_a_graph_that_differs_from_the_module_is_not_served() -> None:
    tower = serving_tower(BranchingTower().eval(), d_z=8, max_history=10)
    assert tower.mode == "eager"
    assert tower.note is not None and "frozen graph of BranchingTower differs" in tower.note and "eagerly" in tower.note
    x, lengths = probe_batches(8, 10)[0]  # width 1: the branch the trace did not record
    with torch.inference_mode():
        assert torch.equal(tower(x, lengths), x[:, 0])


def test_a_tower_that_cannot_be_traced_is_served_eagerly_with_a_line() -> None:
    tower = serving_tower(DictTower().eval(), d_z=8, max_history=4)
    assert tower.mode == "eager" and tower.note is not None
    assert tower.note.startswith("user tower: DictTower could not be frozen (") and "\n" not in tower.note


def test_eager_is_the_module_itself_and_unknown_modes_are_refused() -> None:
    encoder = build_user_encoder(16, RankerConfig(), 0.0).eval()
    assert serving_tower(encoder, d_z=16, max_history=10, mode="eager").forward is encoder
    with pytest.raises(ValueError, match="serve.tower: 'jit' is not one of frozen, eager"):
        serving_tower(encoder, d_z=16, max_history=10, mode="jit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="training mode"):
        serving_tower(encoder.train(), d_z=16, max_history=10)


def test_recommend_answers_are_byte_identical_with_the_frozen_and_the_eager_tower(trained_run: Any, tmp_path: Path) -> None:
    out = tmp_path / "embeddings"
    embed({"run_dir": str(trained_run.run_dir), "out": str(out)}, {}, OpContext(torch.device("cpu"), {}))
    g = torch.Generator().manual_seed(3)
    queries = []
    for i in range(60):
        n = int(torch.randint(1, 11, (1,), generator=g))
        rows = torch.randperm(trained_run.n_items, generator=g)[: n + 1].tolist()
        queries.append({"history": [f"v{r:05d}" for r in rows[:n]], "k": 1 + i % 20, "exclude": [f"v{rows[n]:05d}"],
                        "gates": i % 2 == 0})
    replies = {}
    for mode in ("frozen", "eager"):
        ctx = OpContext(torch.device("cpu"), {})
        args = {"run_dir": str(trained_run.run_dir), "store_dir": str(out), "tower": mode}
        single = [recommend({**args, "queries": [q]}, {}, ctx).result for q in queries]
        batched = recommend({**args, "queries": queries[:7]}, {}, ctx).result
        assert single[0]["tower"] == mode and "notes" not in single[0]
        replies[mode] = json.dumps([r["answers"] for r in single] + [batched["answers"]])
    assert replies["frozen"] == replies["eager"]
    with pytest.raises(OpError, match="serve.tower: 'graph' is not one of frozen, eager"):
        recommend({"run_dir": str(trained_run.run_dir), "store_dir": str(out), "tower": "graph", "queries": []},
                  {}, OpContext(torch.device("cpu"), {}))

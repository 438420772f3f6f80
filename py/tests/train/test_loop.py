"""Training loop: gradients reach every group, overfitting, exact resume, seeds, checkpoints, outputs (paper §4.3)."""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from linkedout.model.config import ConfigError
from linkedout.model.losses import LossWeights
from linkedout.train.batching import make_batch
from linkedout.train.checkpoint import CheckpointError
from linkedout.train.data import Catalogue, EvalSplit, open_content, read_train_sequences
from linkedout.train.evaluate import pad_histories, rank_split, rank_targets
from linkedout.train.loop import DistContext, StepContext, build_model, build_optimizer, model_shapes, train, train_step
from linkedout.train.ops import rank_op, train_op
from linkedout.train.spec import TrainSpec
from linkedout.train.trained import item_embeddings, load_trained, user_tower
from linkedout.protocol.op import OpContext, OpError
from linkedout.util.arrow import read_arrow


torch.set_num_threads(1)


def test_every_parameter_group_receives_gradient(tiny_data: Any, tmp_path: Path) -> None:
    spec = TrainSpec.from_json(tiny_data.spec(tmp_path / "run", {"item_id_embeddings": True, "moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}},
                                         weight_decay=0.0))
    catalogue = Catalogue.read(tiny_data.split_dir / "items.arrow")
    _, sequences = read_train_sequences(tiny_data.split_dir / "train.arrow", catalogue)
    content = open_content(spec.store, catalogue, spec.recommender)
    assert content is not None and content.missing_items() == 1
    model = build_model(spec.recommender, model_shapes(content, catalogue, content.store.taps), seed=0)
    optimizer = build_optimizer(model, spec.train)
    sc = StepContext(model=model, wrapped=model, optimizer=optimizer, scaler=torch.amp.GradScaler("cuda", enabled=False),
                     content=content, dist=DistContext(), device=torch.device("cpu"), precision="fp32",
                     log_popularity=catalogue.log_popularity(), tcfg=spec.train, loss_weights=LossWeights(1.0, 1.0, 0.01))
    batch_sequences = [s for s in sequences if len(s) >= 2]
    assert any(tiny_data.missing_item in s for s in batch_sequences)  # the no-content vector is in play
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    values = train_step(sc, make_batch(batch_sequences, spec.recommender.ranker.max_history))
    assert math.isfinite(values["loss"]) and values["grad_norm"] > 0
    groups = model.param_groups()
    assert set(groups) == {"item_encoder", "id_embeddings", "ranker"}
    # weight decay is 0: under Adam a tensor moves on the first step iff its gradient is non-zero
    for group, params in groups.items():
        unchanged = [name for name, p in params if torch.equal(before[name], p.detach())]
        assert not unchanged, f"group {group}: no gradient reached {unchanged}"
    decayed = {g["name"]: g["weight_decay"] for g in build_optimizer(model, TrainSpec.from_json(tiny_data.spec(tmp_path)).train).param_groups if g["weight_decay"] > 0}
    assert decayed == {"item_encoder": 0.1, "id_embeddings": 0.1, "ranker": 0.1}
    no_decay = [p for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]]
    assert all(p.ndim < 2 for p in no_decay) or spec.train.weight_decay == 0


def test_a_tiny_dataset_is_overfit(tiny_data: Any, tmp_path: Path) -> None:
    spec = tiny_data.spec(tmp_path / "run", {"dropout": 0.0}, epochs=40, batch_size=24,
                     lr={"item_encoder": 1e-2, "ranker": 1e-2, "id_embeddings": 1e-2})
    spec["write_ranks"] = False
    train(TrainSpec.from_json(spec))
    trained = load_trained(tmp_path / "run")
    final = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]  # last epoch, not best-on-valid
    trained.model.load_state_dict(final)
    z, _ = item_embeddings(trained, tiny_data.store_dir)
    _, sequences = read_train_sequences(tiny_data.split_dir / "train.arrow", trained.catalogue)
    seqs = [s for s in sequences if len(s) >= 2]
    on_train = EvalSplit("train", [str(i) for i in range(len(seqs))], [s[:-1] for s in seqs],
                         np.array([s[-1] for s in seqs]), [s[:-1] for s in seqs])
    ranks = rank_split(trained.model, z, on_train, topk=0, batch_users=64)
    assert ranks.hit_rate(10) == 1.0, ranks.ranks


def _run(spec: dict, progress: list | None = None) -> dict:
    if progress is None:
        return train(TrainSpec.from_json(spec))
    ctx = OpContext(torch.device("cpu"), {}, progress_sink=progress.append, min_progress_interval_s=0.0)
    return train_op(spec, {}, ctx).result


def test_resume_after_epoch_k_is_bitwise_the_uninterrupted_run_and_seeds_repeat(tiny_data: Any, tmp_path: Path) -> None:
    base = {"moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}}
    progress: list = []
    full = _run(tiny_data.spec(tmp_path / "full", base, epochs=4), progress)
    assert [p["done"] for p in progress] == [1, 2, 3, 4] and all(p["unit"] == "epochs" for p in progress)

    interrupted = tiny_data.spec(tmp_path / "resumed", base, epochs=4)
    first = _run({**interrupted, "stop_after_epoch": 2})
    assert first["stopped_for_preemption"] and first["epochs_done"] == 2
    assert not (tmp_path / "resumed" / "ranks.arrow").exists()
    resumed = _run(interrupted)
    assert resumed["epochs_done"] == 4 and resumed["steps"] == full["steps"]

    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for pid, st in a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], b["optimizer"]["state"][pid]["exp_avg_sq"])
    assert read_arrow(tmp_path / "full" / "train_log.arrow").equals(read_arrow(tmp_path / "resumed" / "train_log.arrow"))
    assert read_arrow(tmp_path / "full" / "ranks.arrow").equals(read_arrow(tmp_path / "resumed" / "ranks.arrow"))

    # same seed, fresh run -> bit-identical ranks; another seed -> different ranks
    _run(tiny_data.spec(tmp_path / "again", base, epochs=4))
    assert (tmp_path / "again" / "ranks.arrow").read_bytes() == (tmp_path / "full" / "ranks.arrow").read_bytes()
    _run(tiny_data.spec(tmp_path / "seed1", base, epochs=4, seed=1))
    assert not read_arrow(tmp_path / "seed1" / "ranks.arrow").equals(read_arrow(tmp_path / "full" / "ranks.arrow"))

    _check_outputs(tmp_path / "full", tiny_data)
    _check_rank_op(tmp_path / "full", tmp_path)
    _check_bad_checkpoints(tmp_path / "full", tiny_data, tmp_path)


def _check_outputs(run: Path, data: Any) -> None:
    catalogue = Catalogue.read(data.split_dir / "items.arrow")
    gates = read_arrow(run / "gates.arrow")
    assert gates.column("item").to_pylist() == catalogue.items
    pi = np.asarray(gates.column("gates").combine_chunks().flatten()).reshape(data.n_items, 3)
    np.testing.assert_allclose(pi.sum(1), 1.0, rtol=1e-5)
    assert ((pi > 0).sum(1)[np.arange(data.n_items) != data.missing_item] == 2).all()  # top-2 routing
    np.testing.assert_allclose(pi[data.missing_item], 1 / 3)  # no content: uniform
    assert gates.schema.metadata[b"taps"] == b"[0, 2, 4]"

    log = read_arrow(run / "train_log.arrow")
    assert {"step", "epoch", "loss", "ce", "align", "uniformity", "load_balance", "grad_norm",
            "lr_item_encoder", "lr_ranker"} <= set(log.column_names)
    assert log.column("step").to_pylist() == list(range(log.num_rows))
    assert set(log.column("lr_ranker").to_pylist()) == {3e-3}
    assert all(v > 0 for v in log.column("load_balance").to_pylist())

    ranks = read_arrow(run / "ranks.arrow")
    valid = EvalSplit.read(data.split_dir / "valid.arrow", "valid", catalogue)
    assert ranks.column("split").to_pylist() == ["valid"] * len(valid) + ["test"] * len(valid)
    for row in ranks.to_pylist():
        assert 1 <= row["rank"] <= data.n_items and len(row["topk"]) == 20
        if row["rank"] <= 20:
            assert row["topk"][row["rank"] - 1] == row["target"]
        else:
            assert row["target"] not in row["topk"]
    masked = {u: {catalogue.items[i] for i in m} for u, m in zip(valid.users, valid.masked)}
    for row in ranks.to_pylist()[: len(valid)]:
        assert not masked[row["user"]] & set(row["topk"])

    # the stable entry points reproduce the run's own gates and ranks
    trained = load_trained(run)
    z, pi_again = item_embeddings(trained, data.store_dir)
    np.testing.assert_array_equal(pi_again.numpy(), pi)
    history, lengths = pad_histories(valid.histories, 10)
    users = user_tower(trained, z[history], lengths)
    again, _ = rank_targets(users @ z.T, torch.from_numpy(valid.targets), valid.masked, topk=0)
    assert again.tolist() == ranks.column("rank").to_pylist()[: len(valid)]


def _check_rank_op(run: Path, tmp: Path) -> None:
    ctx = OpContext(torch.device("cpu"), {})
    parts = []
    for index in range(3):
        out = tmp / f"rank-test-{index}.arrow"
        result = rank_op({"run_dir": str(run), "split": "test", "shard": {"index": index, "count": 3}, "out": str(out)}, {}, ctx).result
        assert result["users"] == 8
        parts.append(read_arrow(out))
    whole = read_arrow(run / "ranks.arrow")
    test_rows = whole.filter(pa.compute.equal(whole.column("split"), "test"))
    assert pa.concat_tables(parts).equals(test_rows)


def _check_bad_checkpoints(run: Path, data: Any, tmp: Path) -> None:
    # a corrupt checkpoint: truncated
    broken = tmp / "broken"
    shutil.copytree(run, broken)
    ckpt = broken / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    spec = data.spec(broken, {"moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}}, epochs=5)
    with pytest.raises(CheckpointError, match=rf"{ckpt}: corrupt or not a linkedout checkpoint"):
        train(TrainSpec.from_json(spec))
    # something weights_only refuses to unpickle
    torch.save({"format": "linkedout.checkpoint/1", "evil": pickle.dumps}, ckpt)
    with pytest.raises(CheckpointError, match=rf"{ckpt}: corrupt or not a linkedout checkpoint"):
        train(TrainSpec.from_json(spec))
    # a checkpoint of a different model
    mismatched = tmp / "mismatched"
    shutil.copytree(run, mismatched)
    other = data.spec(mismatched, {"d_z": 32, "moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}}, epochs=5)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: does not match this run: recommender\.d_z: checkpoint has 16, this run has 32"):
        train(TrainSpec.from_json(other))
    # best.pt with weights of another shape
    state = torch.load(run / "best.pt", weights_only=True)
    state["model"]["user_encoder.positions.weight"] = torch.zeros(3, 16)
    torch.save(state, mismatched / "best.pt")
    with pytest.raises(CheckpointError, match=r"best\.pt: model weights do not fit this model: shape mismatch \['user_encoder\.positions\.weight \(3, 16\) vs \(10, 16\)'\]"):
        load_trained(mismatched)


@pytest.mark.parametrize("recommender,train_cfg", [
    ({"item_content": False, "item_id_embeddings": True, "ranker": {"name": "gru4rec"}}, {}),
    ({"pooling": "mean", "item_id_embeddings": True, "ranker": {"name": "nextitnet", "layers": 1}}, {"negatives": "full"}),
    ({"pooling": "last_token", "last_token_source": "both", "layers": "last", "fusion": "none"}, {"precision": "bf16"}),
])
def test_table_3_and_4_variants_train(tiny_data: Any, tmp_path: Path, recommender: dict, train_cfg: dict) -> None:
    summary = train(TrainSpec.from_json(tiny_data.spec(tmp_path / "run", recommender, epochs=2, **train_cfg)))
    assert summary["epochs_done"] == 2 and 0.0 <= summary["test_hr10"] <= 1.0
    expected_taps = [] if not recommender.get("item_content", True) else ([4] if recommender.get("layers") == "last" else [0, 2, 4])
    assert summary["taps"] == expected_taps
    assert (tmp_path / "run" / "gates.arrow").exists() == bool(expected_taps)


def test_fp16_on_cpu_and_bad_inputs_are_clear_errors(tiny_data: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.precision: fp16"):
        train(TrainSpec.from_json(tiny_data.spec(tmp_path / "a", precision="fp16")))
    bad_split = tmp_path / "split"
    shutil.copytree(tiny_data.split_dir, bad_split)
    table = read_arrow(bad_split / "train.arrow").to_pydict()
    table["sequence"][3] = table["sequence"][3] + ["no-such-video"]
    with pa.OSFile(str(bad_split / "train.arrow"), "wb") as sink, pa.ipc.new_file(sink, pa.table(table).schema) as w:
        w.write_table(pa.table(table))
    spec = {**tiny_data.spec(tmp_path / "b"), "split_dir": str(bad_split)}
    from linkedout.train.data import DataError

    with pytest.raises(DataError, match=r"train\.arrow: row 3: sequence: item 'no-such-video' is not in items\.arrow"):
        train(TrainSpec.from_json(spec))
    # through the op: one-line typed errors, no traceback needed
    ctx = OpContext(torch.device("cpu"), {})
    with pytest.raises(OpError, match=r"train\.arrow: row 3") as err:
        train_op(spec, {}, ctx)
    assert err.value.type == "DataInvalid"
    with pytest.raises(OpError, match=r"recommender\.d_zz: unknown key") as err:
        train_op({**spec, "recommender": {"d_zz": 3}}, {}, ctx)
    assert err.value.type == "ConfigInvalid"
    with pytest.raises(OpError, match=r"manifest\.json: missing") as err:
        train_op({**tiny_data.spec(tmp_path / "c"), "store": str(tmp_path / "no-store")}, {}, ctx)
    assert err.value.type == "DataInvalid"


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_id_baseline_adam_leaves_items_without_gradient_alone(tiny_data: Any, tmp_path: Path, weight_decay: float) -> None:
    """The ID-baseline recipe (weight_decay 0 = plain Adam): an item's ID vector moves only through its
    gradient; LinkedOut's AdamW (0.1) also shrinks the vectors of items absent from the batch."""
    spec = TrainSpec.from_json(tiny_data.spec(tmp_path / "run", {"item_content": False, "item_id_embeddings": True},
                                              weight_decay=weight_decay, loss={"align_weight": 0, "uniformity_gamma": 0,
                                                                               "popularity_correction": False}))
    catalogue = Catalogue.read(tiny_data.split_dir / "items.arrow")
    _, sequences = read_train_sequences(tiny_data.split_dir / "train.arrow", catalogue)
    model = build_model(spec.recommender, model_shapes(None, catalogue, None), seed=0)
    optimizer = build_optimizer(model, spec.train)
    sc = StepContext(model=model, wrapped=model, optimizer=optimizer, scaler=torch.amp.GradScaler("cuda", enabled=False),
                     content=None, dist=DistContext(), device=torch.device("cpu"), precision="fp32", log_popularity=None,
                     tcfg=spec.train, loss_weights=LossWeights(0.0, 0.0, 0.0))
    batch = make_batch([s for s in sequences if len(s) >= 2][:2], spec.recommender.ranker.max_history)  # in-batch candidates
    absent = sorted(set(range(len(catalogue))) - set(batch.candidates.tolist()))
    assert absent
    table = model.item_encoder.id_embedding.weight
    before = table.detach().clone()
    train_step(sc, batch)
    moved = ~torch.isclose(table.detach()[absent], before[absent], rtol=0, atol=0).all(dim=1)
    norms_before, norms_after = before[absent].norm(dim=1), table.detach()[absent].norm(dim=1)
    if weight_decay == 0:
        assert not moved.any()
    else:
        assert moved.all() and (norms_after < norms_before).all()
    assert not torch.equal(table.detach()[batch.candidates], before[batch.candidates])  # batch items do learn

"""train.feature_cache: every placement gives bitwise the run `off` gives on CPU, and resumes across modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from linkedout.model.config import ConfigError
from linkedout.train.data import Catalogue, open_content
from linkedout.train.feature_cache import FeatureCache, choose_placement, table_bytes
from linkedout.train.loop import train
from linkedout.train.spec import TrainSpec
from linkedout.util.arrow import read_arrow

torch.set_num_threads(1)
REC = {"moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}}


def _run(data: Any, run_dir: Path, **train_cfg: Any) -> dict[str, Any]:
    return train(TrainSpec.from_json(data.spec(run_dir, REC, epochs=3, **train_cfg)))


def _assert_same_run(a: Path, b: Path) -> None:
    ca, cb = torch.load(a / "checkpoint.pt", weights_only=True), torch.load(b / "checkpoint.pt", weights_only=True)
    for name, tensor in ca["model"].items():
        assert torch.equal(tensor, cb["model"][name]), name
    for pid, st in ca["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg"], cb["optimizer"]["state"][pid]["exp_avg"]), pid
        assert torch.equal(st["exp_avg_sq"], cb["optimizer"]["state"][pid]["exp_avg_sq"]), pid
    best_a, best_b = torch.load(a / "best.pt", weights_only=True), torch.load(b / "best.pt", weights_only=True)
    assert best_a["epoch"] == best_b["epoch"]
    for name in ("train_log.arrow", "ranks.arrow", "gates.arrow"):
        assert read_arrow(a / name).equals(read_arrow(b / name)), name
    ea, eb = read_arrow(a / "epochs.arrow"), read_arrow(b / "epochs.arrow")
    assert ea.drop(["seconds"]).equals(eb.drop(["seconds"]))


def test_every_mode_gives_the_off_run_bitwise_and_resumes_across_modes(tiny_data: Any, tmp_path: Path) -> None:
    off = _run(tiny_data, tmp_path / "off", feature_cache="off")
    assert off["feature_cache"] == "off"
    for mode in ("device", "host", "auto"):
        summary = _run(tiny_data, tmp_path / mode, feature_cache=mode)
        assert summary["feature_cache"] == ("device" if mode == "auto" else mode)  # a CPU "device" with room
        assert summary["best_epoch"] == off["best_epoch"] and summary["best_valid"] == off["best_valid"]
        _assert_same_run(tmp_path / "off", tmp_path / mode)

    # preempted after epoch 1 with the host cache, resumed with the device cache: still the off run
    first = train(TrainSpec.from_json({**tiny_data.spec(tmp_path / "resumed", REC, epochs=3, feature_cache="host"), "stop_after_epoch": 1}))
    assert first["stopped_for_preemption"] and first["feature_cache"] == "host"
    resumed = _run(tiny_data, tmp_path / "resumed", feature_cache="device")
    assert resumed["epochs_done"] == 3
    _assert_same_run(tmp_path / "off", tmp_path / "resumed")


def test_auto_falls_back_when_the_share_is_too_small_and_an_explicit_mode_that_cannot_fit_is_refused(tiny_data: Any, tmp_path: Path) -> None:
    summary = _run(tiny_data, tmp_path / "tiny-share", feature_cache="auto", feature_cache_share=1e-12)
    assert summary["feature_cache"] == "off"  # on CPU the host is the device: no separate host tier
    cpu = torch.device("cpu")
    assert choose_placement("auto", 10, cpu, 0.5) == "device"
    with pytest.raises(ConfigError, match=r"train.feature_cache: device: the features need 8192.0 GiB"):
        choose_placement("device", 2**43, cpu, 0.5)
    with pytest.raises(ConfigError, match=r"train.feature_cache: host: .* host memory has"):
        choose_placement("host", 2**43, cpu, 0.5)
    with pytest.raises(ConfigError, match="feature_cache_share"):
        TrainSpec.from_json(tiny_data.spec(tmp_path / "x", feature_cache_share=0))
    with pytest.raises(ConfigError, match="train.feature_cache"):
        TrainSpec.from_json(tiny_data.spec(tmp_path / "x", feature_cache="gpu"))


def test_a_cached_gather_equals_the_store_gather_including_a_missing_item(tiny_data: Any, tmp_path: Path) -> None:
    spec = TrainSpec.from_json(tiny_data.spec(tmp_path / "run", REC))
    catalogue = Catalogue.read(tiny_data.split_dir / "items.arrow")
    content = open_content(spec.store, catalogue, spec.recommender)
    assert content is not None
    idx = torch.tensor([tiny_data.missing_item, 0, 7, tiny_data.n_items - 1, 7])
    want = content.gather(idx)
    one_item = content.gather(torch.tensor([0]))
    per_item = sum(t.numel() * t.element_size() for t in vars(one_item).values() if t is not None)
    assert table_bytes(content, len(catalogue)) == per_item * len(catalogue)
    for mode in ("device", "host", "off"):
        cache = FeatureCache(content, len(catalogue), torch.device("cpu"), mode, 0.5)
        assert cache.placement == mode
        got = cache.gather(idx)
        for name, tensor in vars(want).items():
            if tensor is None:
                assert getattr(got, name) is None, (mode, name)
            else:
                assert torch.equal(getattr(got, name), tensor), (mode, name)
    assert not bool(want.present[0]) and float(want.old_merged[0].abs().sum()) == 0.0  # the missing item: zero rows

"""The training loop: one process or torchrun DDP, AMP, AdamW param groups, early stopping, resume (paper §4.3).

One step, on W ranks (W = 1 without torchrun):

    global batch of B user sequences (same on every rank: the shuffle is seeded by (seed, epoch))
    candidates C = distinct items of the batch          (or the whole catalogue: negatives=full)
    rank r encodes its contiguous chunk of C -> z chunk  ─┐ all_gather with autograd
    rank r runs the user tower on its chunk of B users   ─┘ (torch.distributed.nn.functional)
    every rank computes the same global loss; DDP averages gradients.

Gradient check: rank r's chunk receives Σ_ranks ∂L/∂chunk = W·∂L/∂chunk through the all_gather backward,
and DDP divides by W, so the update equals the one-process update on the same global batch.

Reproducibility: the model is initialised from `seed`; each epoch reseeds the shuffle and dropout from
(seed, epoch), so an epoch's work depends only on the weights/optimizer state it starts from — which is
what `checkpoint.pt` holds. Resuming after epoch k therefore gives bitwise the uninterrupted result on CPU
(with `deterministic: true`).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from linkedout.model.config import ConfigError, RecommenderConfig, to_dict
from linkedout.model.losses import LossWeights, recommendation_loss
from linkedout.model.recommender import LinkedOutRecommender
from linkedout.util.atomic import write_json_atomic

from .batching import TrainBatch, chunk_bounds, make_batch, pad_rows, prefetch, sequences_of
from .checkpoint import check_compatible, load_checkpoint, load_model_state, save_checkpoint
from .data import Catalogue, ContentSource, EvalSplit, open_content, read_train_sequences
from .evaluate import catalogue_embeddings, rank_split
from .outputs import gates_table, log_table, ranks_table, write_table_atomic
from .spec import RESUMABLE_CHANGES, Schedule, TrainConfig, TrainSpec

Progress = Callable[[int, "int | None", str], None]
LOG_COLUMNS = ("loss", "ce", "align", "uniformity", "load_balance", "grad_norm")


# ----------------------------------------------------------------------------------------------
# Process group, device, precision
# ----------------------------------------------------------------------------------------------


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we called init_process_group (and destroy it at the end)

    @classmethod
    def from_env(cls, device_hint: str) -> "DistContext":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        owns = False
        if not dist.is_initialized():
            use_nccl = device_hint != "cpu" and torch.cuda.is_available()
            if use_nccl:
                torch.cuda.set_device(local_rank)
            dist.init_process_group(backend="nccl" if use_nccl else "gloo")
            owns = True
        return cls(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, owns_group=owns)

    def gather_rows(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's equally-sized `t` along dim 0, keeping autograd."""
        if self.world == 1:
            return t
        import torch.distributed.nn.functional as dist_fn

        with warnings.catch_warnings():  # deprecated in favour of a private API; still the public autograd gather
            warnings.simplefilter("ignore", FutureWarning)
            return torch.cat(dist_fn.all_gather(t.contiguous()), dim=0)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def resolve_device(name: str, ctx: DistContext) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", ctx.local_rank if ctx.world > 1 else torch.cuda.current_device())
        return torch.device("cpu")
    if name == "cuda" and ctx.world > 1:
        return torch.device("cuda", ctx.local_rank)
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision: fp16 (with a grad scaler) needs a GPU; use bf16 or fp32 on CPU")
    return precision


# ----------------------------------------------------------------------------------------------
# Model, optimizer, schedule
# ----------------------------------------------------------------------------------------------


def model_shapes(content: ContentSource | None, catalogue: Catalogue, store_taps: list[int] | None) -> dict[str, Any]:
    if content is None:
        return {"n_items": len(catalogue), "d_model": 0, "n_taps": 0, "n_prompts": 0, "taps": []}
    taps = [store_taps[i] for i in content.taps] if store_taps is not None else []
    return {"n_items": len(catalogue), "d_model": content.d_model, "n_taps": content.n_taps,
            "n_prompts": content.n_prompts, "taps": taps}


def build_model(cfg: RecommenderConfig, shapes: dict[str, Any], seed: int) -> LinkedOutRecommender:
    torch.manual_seed(seed)
    return LinkedOutRecommender(cfg, shapes["n_items"], max(shapes["d_model"], 1), max(shapes["n_taps"], 1),
                                max(shapes["n_prompts"], 1))


def build_optimizer(model: LinkedOutRecommender, tcfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW, one lr per named group; weight decay only on >= 2-D weights (not biases, norms, 1-D params)."""
    lr = {"item_encoder": tcfg.lr.item_encoder, "id_embeddings": tcfg.lr.id_embeddings, "ranker": tcfg.lr.ranker}
    groups: list[dict[str, Any]] = []
    for name, params in model.param_groups().items():
        decay = [p for _, p in params if p.ndim >= 2]
        no_decay = [p for _, p in params if p.ndim < 2]
        if decay:
            groups.append({"params": decay, "lr": lr[name], "weight_decay": tcfg.weight_decay, "name": name})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr[name], "weight_decay": 0.0, "name": name})
    return torch.optim.AdamW(groups, lr=tcfg.lr.item_encoder, foreach=False)


def step_schedule(schedule: Schedule) -> Callable[[int], float]:
    """MicroLens `get_step_schedule_with_warmup` at epoch granularity. Departure: warmup is
    (e+1)/(w+1) rather than e/w so that the first epoch does not run at lr 0."""

    def factor(epoch: int) -> float:
        if epoch < schedule.warmup_epochs:
            return (epoch + 1) / (schedule.warmup_epochs + 1)
        return schedule.alpha ** ((epoch - schedule.warmup_epochs) // schedule.gap_epochs)

    return factor


# ----------------------------------------------------------------------------------------------
# One step
# ----------------------------------------------------------------------------------------------


@dataclass
class StepContext:
    model: LinkedOutRecommender
    wrapped: torch.nn.Module  # the DDP wrapper (or the model)
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    content: ContentSource | None
    dist: DistContext
    device: torch.device
    precision: str
    log_popularity: torch.Tensor | None  # [n_items] on device
    tcfg: TrainConfig
    loss_weights: LossWeights


def train_step(sc: StepContext, batch: TrainBatch) -> dict[str, float]:
    """Forward, loss, backward, clip, optimizer step on one global batch; returns the logged values."""
    d = sc.dist
    n_cand, n_users = int(batch.candidates.shape[0]), batch.n_users
    c0, c1, c_size = chunk_bounds(n_cand, d.world, d.rank)
    u0, u1, u_size = chunk_bounds(n_users, d.world, d.rank)
    local_items = pad_rows(batch.candidates[c0:c1], c_size, int(batch.candidates[0]))
    local_history = pad_rows(batch.history_rows[u0:u1], u_size, 0)
    features = sc.content.gather(local_items).to(sc.device) if sc.content is not None else None

    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(sc.precision)
    with torch.autocast(sc.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        out = sc.wrapped(local_items.to(sc.device), features, local_history.to(sc.device), gather=d.gather_rows)
    # Loss in float32, outside autocast, on the global batch (identical on every rank).
    per_position = d.gather_rows(out.per_position)[:n_users]
    z = out.z_all[:n_cand]
    if out.items.gate_probs.shape[1] > 0:
        gate_probs = d.gather_rows(out.items.gate_probs)[:n_cand]
        routed = d.gather_rows(out.items.routed)[:n_cand]
    else:
        gate_probs = routed = out.items.gate_probs
    log_pop = sc.log_popularity[batch.candidates.to(sc.device)] if sc.log_popularity is not None else None
    terms = recommendation_loss(per_position, batch.lengths.to(sc.device), batch.target_rows.to(sc.device), z, log_pop,
                                batch.user_items.to(sc.device), gate_probs, routed, sc.model.cfg.moe.top_k, sc.loss_weights,
                                exclude_user_items=sc.tcfg.loss.exclude_user_items)
    if not torch.isfinite(terms.total):
        raise FloatingPointError(f"training loss is {float(terms.total)} (terms: {terms.as_floats()})")

    sc.scaler.scale(terms.total).backward()
    sc.scaler.unscale_(sc.optimizer)
    clip = sc.tcfg.grad_clip if sc.tcfg.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(sc.model.parameters(), clip, foreach=False)
    sc.scaler.step(sc.optimizer)
    sc.scaler.update()
    sc.optimizer.zero_grad(set_to_none=True)
    values = terms.as_floats()
    return {"loss": values["total"], "ce": values["ce"], "align": values["align"], "uniformity": values["uniformity"],
            "load_balance": values["load_balance"], "grad_norm": float(grad_norm)}


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------


@dataclass
class RunState:
    epoch: int = 0  # epochs finished
    step: int = 0
    best_hr10: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    log: dict[str, list[Any]] = field(default_factory=dict)
    epoch_log: dict[str, list[Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _lr_columns(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    out: dict[str, float] = {}
    for g in optimizer.param_groups:
        out.setdefault(f"lr_{g['name']}", float(g["lr"]))
    return out


def _append(table: dict[str, list[Any]], row: dict[str, Any]) -> None:
    for k, v in row.items():
        table.setdefault(k, []).append(v)


def train(spec: TrainSpec, device: torch.device | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Train one model as `spec` says; returns a JSON summary. The `train` worker op and
    `python -m linkedout.train` both call this."""
    cfg, tcfg = spec.recommender, spec.train
    dctx = DistContext.from_env(spec.device if device is None else device.type)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _train(spec, cfg, tcfg, dctx, device or resolve_device(spec.device, dctx), progress)
    finally:
        # a worker process runs other ops afterwards (extraction on GPU has no deterministic kernels for all ops)
        torch.use_deterministic_algorithms(was_deterministic)
        if dctx.owns_group:
            dist.destroy_process_group()


def _train(spec: TrainSpec, cfg: RecommenderConfig, tcfg: TrainConfig, dctx: DistContext, device: torch.device,
           progress: Progress | None) -> dict[str, Any]:
    if tcfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # CPU: bitwise repeatable (tested). GPU: warn, not fail, on a kernel without a deterministic variant.
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    precision = resolve_precision(tcfg.precision, device)
    run_dir = Path(spec.run_dir)
    split_dir = Path(spec.split_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if dctx.rank == 0:  # what load_trained and the rank op read back
        write_json_atomic(run_dir / "spec.json", spec.to_json())

    catalogue = Catalogue.read(split_dir / "items.arrow")
    _, sequences = read_train_sequences(split_dir / "train.arrow", catalogue)
    train_sequences = [s for s in sequences if len(s) >= 2]
    if not train_sequences:
        raise ValueError(f"{split_dir / 'train.arrow'}: no user has 2 or more training items")
    valid = EvalSplit.read(split_dir / "valid.arrow", "valid", catalogue)
    content = open_content(spec.store, catalogue, cfg)
    shapes = model_shapes(content, catalogue, content.store.taps if content is not None else None)

    model = build_model(cfg, shapes, tcfg.seed).to(device)
    optimizer = build_optimizer(model, tcfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, step_schedule(tcfg.schedule))
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    state = RunState()
    rec_json, train_json = to_dict(cfg), to_dict(tcfg)

    ckpt_path, best_path = run_dir / "checkpoint.pt", run_dir / "best.pt"
    if spec.resume and ckpt_path.exists():
        payload = load_checkpoint(ckpt_path)
        check_compatible(ckpt_path, payload, shapes, rec_json, train_json, RESUMABLE_CHANGES)
        load_model_state(ckpt_path, model, payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
        state = RunState(**payload["state"])

    wrapped: torch.nn.Module = model
    if dctx.world > 1:
        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    sc = StepContext(model=model, wrapped=wrapped, optimizer=optimizer, scaler=scaler, content=content, dist=dctx,
                     device=device, precision=precision,
                     log_popularity=catalogue.log_popularity().to(device) if tcfg.loss.popularity_correction else None,
                     tcfg=tcfg, loss_weights=LossWeights(tcfg.loss.align_weight, tcfg.loss.uniformity_gamma, cfg.moe.load_balance_weight))
    n_items = len(catalogue)
    stopped_for_preemption = False
    model.train()
    for epoch in range(state.epoch, tcfg.epochs):
        if tcfg.early_stopping_patience and state.bad_epochs >= tcfg.early_stopping_patience:
            break  # resumed a run that had already stopped early
        started = time.monotonic()
        shuffle = torch.Generator().manual_seed(tcfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(train_sequences), generator=shuffle)
        torch.manual_seed(tcfg.seed * 1_000_003 + epoch * 7919 + dctx.rank)  # dropout masks of this epoch
        losses = []
        batches = (make_batch(sequences_of(order[start:start + tcfg.batch_size], train_sequences), cfg.ranker.max_history,
                              n_items if tcfg.negatives == "full" else None)
                   for start in range(0, len(order), tcfg.batch_size))
        for batch in prefetch(batches):
            lrs = _lr_columns(optimizer)
            values = train_step(sc, batch)
            losses.append(values["loss"])
            _append(state.log, {"step": state.step, "epoch": epoch, **values, **lrs})
            state.step += 1
        scheduler.step()

        z, _ = catalogue_embeddings(model, content, n_items, tcfg.item_batch_size, device)
        valid_ranks = rank_split(model, z, valid, topk=0, batch_users=tcfg.eval_batch_users)
        hr10, ndcg10 = valid_ranks.hit_rate(10), valid_ranks.ndcg(10)
        improved = hr10 > state.best_hr10
        if improved:
            state.best_hr10, state.best_epoch, state.bad_epochs = hr10, epoch, 0
            if dctx.rank == 0:
                save_checkpoint(best_path, {"kind": "weights", "epoch": epoch + 1, "shapes": shapes, "recommender": rec_json,
                                            "train": train_json, "model": model.state_dict()})
        else:
            state.bad_epochs += 1
        _append(state.epoch_log, {"epoch": epoch, "valid_hr10": hr10, "valid_ndcg10": ndcg10,
                                  "train_loss": float(np.mean(losses)), "seconds": time.monotonic() - started, "best": improved})
        state.epoch = epoch + 1
        if dctx.rank == 0:
            save_checkpoint(ckpt_path, {
                "kind": "resume", "epoch": state.epoch, "shapes": shapes, "recommender": rec_json, "train": train_json,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else None, "state": state.to_json(),
            })
        dctx.barrier()
        if progress is not None:
            progress(state.epoch, tcfg.epochs, f"epoch {state.epoch}: loss {np.mean(losses):.4f}, valid HR@10 {hr10:.4f}"
                                                f" (best {state.best_hr10:.4f} @ {state.best_epoch + 1})")
        if spec.stop_after_epoch is not None and state.epoch >= spec.stop_after_epoch and state.epoch < tcfg.epochs:
            stopped_for_preemption = True
            break

    summary: dict[str, Any] = {
        "run_dir": str(run_dir), "epochs_done": state.epoch, "steps": state.step, "best_epoch": state.best_epoch + 1,
        "best_valid_hr10": state.best_hr10, "stopped_for_preemption": stopped_for_preemption, "world_size": dctx.world,
        "device": str(device), "precision": precision, "taps": shapes["taps"],
    }
    if dctx.rank == 0:
        _write_logs(run_dir, state)
    if stopped_for_preemption or dctx.rank != 0:
        return summary

    load_model_state(best_path, model, load_checkpoint(best_path)["model"])
    z, gates = catalogue_embeddings(model, content, n_items, tcfg.item_batch_size, device)
    prompt_weights = model.item_encoder.prompt_weights()
    if gates.shape[1] > 0:  # ID-only models have no layers to gate
        write_table_atomic(run_dir / "gates.arrow", gates_table(catalogue.items, gates.cpu().numpy(), shapes["taps"],
                                                               None if prompt_weights is None else prompt_weights.cpu().numpy()))
    if spec.write_ranks:
        parts = [rank_split(model, z, valid, tcfg.topk, tcfg.eval_batch_users)]
        if (split_dir / "test.arrow").exists():
            test = EvalSplit.read(split_dir / "test.arrow", "test", catalogue)
            parts.append(rank_split(model, z, test, tcfg.topk, tcfg.eval_batch_users))
        write_table_atomic(run_dir / "ranks.arrow", ranks_table(parts, catalogue.items))
        for part in parts:
            summary[f"{part.split}_hr10"] = part.hit_rate(10)
            summary[f"{part.split}_ndcg10"] = part.ndcg(10)
    return summary


def _write_logs(run_dir: Path, state: RunState) -> None:
    if state.log:
        write_table_atomic(run_dir / "train_log.arrow", log_table(state.log, {"step": pa.int64(), "epoch": pa.int32()}))
    if state.epoch_log:
        write_table_atomic(run_dir / "epochs.arrow", log_table(state.epoch_log, {"epoch": pa.int32(), "best": pa.bool_()}))



"""Train one RecBole 1.2.1 sequential model on the atomic files of our split; score it both ways.

Runs in the bench virtual environment (`setup-venv.sh`), not the product's: RecBole 1.2.1 needs
numpy < 2 and setuptools < 81 (ray imports pkg_resources). It imports only linkedout's data readers and
ranking function, which need torch, numpy and pyarrow.

    .bench-venv/recbole/bin/python py/linkedout/bench/recbole/run_recbole.py \
        --split SPLIT_DIR --atomic ATOMIC_DIR --model SASRec --seed 0 --epochs 60 --patience 10 --out result.json

Two numbers per split:
- `recbole`: RecBole's own full-sort evaluator on the test (valid) rows: history NOT masked.
- `masked`: the best model re-scored on our users, histories and masks (MicroLens protocol) with
  linkedout's `rank_targets` — the same ranks, ties and masks as our own runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# RecBole saves its config object in checkpoints; torch >= 2.6 loads weights only by default.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # py/: linkedout's readers and ranking

from linkedout.train.data import Catalogue, EvalSplit  # noqa: E402
from linkedout.train.evaluate import SplitRanks, rank_targets  # noqa: E402

DATASET = "split"


class Deadline(Exception):
    """Raised after an epoch past --stop-at; RecBole's fit has no other way out."""


def recbole_config(model: str, atomic_dir: Path, seed: int, epochs: int, patience: int, max_history: int,
                   checkpoint_dir: Path, extra: dict[str, object]) -> dict[str, object]:
    """RecBole's own defaults for `model` except what makes the two sides comparable (stated in docs)."""
    cfg: dict[str, object] = {
        "data_path": str(atomic_dir.parent), "dataset": atomic_dir.name,
        "benchmark_filename": ["train", "valid", "test"],
        "alias_of_item_id": ["item_id_list"],  # one id space for history and target (else silently wrong)
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
        "MAX_ITEM_LIST_LENGTH": max_history,
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id",
        "train_neg_sample_args": None, "loss_type": "CE",
        "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["Hit", "NDCG"], "topk": [10, 20], "valid_metric": "Hit@10",
        "epochs": epochs, "stopping_step": patience, "seed": seed, "reproducibility": True,
        "use_gpu": torch.cuda.is_available(), "show_progress": False, "checkpoint_dir": str(checkpoint_dir),
        "learning_rate": 1e-3, "embedding_size": 64, "hidden_size": 64 if model == "SASRec" else None,
        "log_wandb": False, "state": "WARNING",
    }
    if cfg["hidden_size"] is None:
        del cfg["hidden_size"]  # GRU4Rec keeps its own default GRU width (128)
    cfg.update(extra)
    return cfg


def masked_ranks(model: torch.nn.Module, dataset: object, split: EvalSplit, catalogue: Catalogue, max_history: int,
                 device: torch.device, batch: int = 1024) -> SplitRanks:
    """Rank our users' targets with RecBole's model: its scores, our histories, masks and tie rule."""
    token_id = dataset.field2token_id["item_id"]  # type: ignore[attr-defined]
    column = torch.tensor([token_id[i] for i in catalogue.items], device=device)  # [n_items] RecBole id per catalogue row
    ranks = []
    model.eval()
    with torch.no_grad():
        for s in range(0, len(split), batch):
            hist = [h[-max_history:] for h in split.histories[s:s + batch]]
            seq = torch.zeros(len(hist), max_history, dtype=torch.long)
            for r, h in enumerate(hist):  # left-aligned, 0 = RecBole's padding id
                seq[r, :len(h)] = column[torch.from_numpy(np.asarray(h, dtype=np.int64))].cpu()
            inter = {model.ITEM_SEQ: seq.to(device),  # type: ignore[attr-defined]
                     model.ITEM_SEQ_LEN: torch.tensor([len(h) for h in hist], device=device)}  # type: ignore[attr-defined]
            from recbole.data.interaction import Interaction

            scores = model.full_sort_predict(Interaction(inter)).float()[:, column]  # [u, n_items] catalogue order
            r, _ = rank_targets(scores, torch.from_numpy(split.targets[s:s + batch]).to(device), split.masked[s:s + batch], 0)
            ranks.append(r)
    all_ranks = torch.cat(ranks).numpy().astype(np.int32)
    return SplitRanks(split=split.name, users=split.users, targets=split.targets, ranks=all_ranks, topk=[])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", type=Path, required=True, help="our split directory (items/train/valid/test.arrow)")
    p.add_argument("--atomic", type=Path, required=True, help="directory holding <name>.{train,valid,test}.inter")
    p.add_argument("--model", required=True, choices=["SASRec", "GRU4Rec", "NextItNet"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--max-history", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", default="{}", help="JSON object of extra RecBole config keys")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--stop-at", type=float, default=None,
                   help="UNIX time: end training after the first epoch past it, then score the best model so far")
    p.add_argument("--from-checkpoint", type=Path, default=None,
                   help="no training: score this saved best model (a run cut short keeps its best checkpoint)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.split, args.atomic, args.out = args.split.resolve(), args.atomic.resolve(), args.out.resolve()
    checkpoint = args.from_checkpoint.resolve() if args.from_checkpoint else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    os.chdir(args.out.parent)  # RecBole writes log/ and log_tensorboard/ into the working directory

    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    checkpoint_dir = args.out.parent / f"{args.out.stem}-saved"
    cfg = recbole_config(args.model, args.atomic, args.seed, args.epochs, args.patience, args.max_history, checkpoint_dir,
                         json.loads(args.set))
    config = Config(model=args.model, config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    epoch_seconds: list[float] = []  # train + validation of each epoch, as our epochs.arrow `seconds`
    started = [0.0]
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def timed_train(*a: object, **k: object) -> object:
        started[0] = time.monotonic()
        return train_epoch(*a, **k)

    def timed_valid(*a: object, **k: object) -> object:
        out = valid_epoch(*a, **k)
        epoch_seconds.append(time.monotonic() - started[0])
        return out

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
    t0 = time.monotonic()
    stopped_at_deadline = False
    if checkpoint is None:
        def deadline(epoch_idx: int, valid_score: float) -> None:
            if args.stop_at is not None and time.time() > args.stop_at:
                raise Deadline

        try:
            trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=False, callback_fn=deadline)
        except Deadline:
            stopped_at_deadline = True
        best_epoch = len(epoch_seconds) - trainer.cur_step
    else:
        # torch.load without weights_only: RecBole's checkpoint pickles its Config object, which
        # weights_only=True refuses; the file was written moments ago by this same process (allow-list
        # in py/tests/test_torch_load.py).
        best_epoch = int(torch.load(checkpoint, map_location="cpu", weights_only=False)["epoch"]) + 1
    fit_seconds = time.monotonic() - t0
    trainer._valid_epoch = valid_epoch
    # loads the best checkpoint into `model`
    own_test = trainer.evaluate(test_data, load_best_model=True, model_file=str(checkpoint) if checkpoint else None)
    own_valid = trainer.evaluate(valid_data, load_best_model=False)

    catalogue = Catalogue.read(args.split / "items.arrow")
    result: dict[str, object] = {
        "side": "recbole", "model": args.model, "seed": args.seed, "epochs_done": len(epoch_seconds),
        "best_epoch": best_epoch, "epoch_seconds": float(np.median(epoch_seconds)) if epoch_seconds else None,
        "from_checkpoint": str(checkpoint) if checkpoint else None, "stopped_at_deadline": stopped_at_deadline,
        "fit_seconds": fit_seconds, "parameters": sum(p.numel() for p in model.parameters()),
        "recbole": {"valid": {k.lower(): float(v) for k, v in own_valid.items()},
                    "test": {k.lower(): float(v) for k, v in own_test.items()}},
        "masked": {}, "config": {k: v for k, v in cfg.items() if k not in ("data_path", "checkpoint_dir")},
    }
    for name in ("valid", "test"):
        ranks = masked_ranks(model, dataset, EvalSplit.read(args.split / f"{name}.arrow", name, catalogue), catalogue,
                             args.max_history, config["device"])
        result["masked"][name] = {f"{m}@{k}": f(k) for k in (10, 20)  # type: ignore[index]
                                  for m, f in (("hit", ranks.hit_rate), ("ndcg", ranks.ndcg))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("model", "seed", "epochs_done", "best_epoch", "epoch_seconds", "masked")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

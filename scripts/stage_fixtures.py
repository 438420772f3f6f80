"""The Python-written stage files of schemas/fixtures/stages/py/ (the TypeScript-written ones are made by
scripts/stage-fixtures.ts): a ranks.arrow over the TypeScript split fixture's catalogue (the rank op's
writer, linkedout.train.outputs.ranks_table) and a TokenStore's manifest.json and shard summary
(linkedout.store.token_store.write_token_store: two items, one failed). Both suites check every fixture
against schemas/ and read the other language's with their own readers.

Regenerate: `PYTHONPATH=py .venv/bin/python scripts/stage_fixtures.py`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from linkedout.store.token_store import Failure, FeatureBatch, StoreSettings, write_token_store
from linkedout.train.evaluate import SplitRanks
from linkedout.train.outputs import ranks_table, write_table_atomic

STAGES = Path(__file__).resolve().parents[1] / "schemas" / "fixtures" / "stages"


def main() -> None:
    out = STAGES / "py"
    out.mkdir(parents=True, exist_ok=True)
    items = pa.ipc.open_file(STAGES / "ts" / "items.arrow").read_all().column("item").to_pylist()
    parts = [
        SplitRanks("valid", ["u01", "u02"], np.array([3, 0]), np.array([1, 7], np.int32), [np.array([3, 1]), np.array([2, 5])]),
        SplitRanks("test", ["u01", "u02"], np.array([4, 9]), np.array([2, 1], np.int32), [np.array([0, 4]), np.array([9, 2])]),
    ]
    write_table_atomic(out / "ranks.arrow", ranks_table(parts, items))

    settings = StoreSettings(key="fixture0key00000", model="tiny", dataset="fixture", taps=(0, 2), num_layers=3, d_model=4,
                             merged_tokens=2, new_tokens=1, max_new_tokens=2, prompts=("describe",), frames=2, dtype="bfloat16")
    g = torch.Generator().manual_seed(0)
    batch = FeatureBatch(items=["a", "b"], prompts=[0, 0], n_old=[5, 6], old_merged=torch.randn(2, 2, 2, 4, generator=g),
                         old_merged_size=torch.ones(2, 2, 2), new=torch.randn(2, 2, 1, 4, generator=g),
                         old_mean=torch.randn(2, 2, 4, generator=g), old_last=torch.randn(2, 2, 4, generator=g),
                         new_last=torch.randn(2, 2, 4, generator=g))
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        write_token_store(store, settings, batch, failed=[Failure("c", "missing video")])
        (out / "tokenstore").mkdir(exist_ok=True)
        for name in ("manifest.json", "shard-0.json"):
            shutil.copyfile(store / name, out / "tokenstore" / name)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Files between stages against their schemas (schemas/stages/, schemas/tokenstore.manifest.schema.json),
with the cross-language fixtures of schemas/fixtures/stages/{ts,py}/ (scripts/stage-fixtures.ts,
scripts/stage_fixtures.py): both languages' fixtures and what the Python writers produce now must match
the schemas, and Python's readers read the TypeScript-written files. test/schedule/stage-files.test.ts
does the same from the other side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from jsonschema import Draft202012Validator

from linkedout.config import SCHEMA_DIR
from linkedout.extract.work_unit import read_items
from linkedout.store.token_store import Failure, FeatureBatch, StoreSettings, TokenStore, write_token_store
from linkedout.store.token_store.format import PART_RE
from linkedout.train.data import Catalogue, EvalSplit, read_train_sequences
from linkedout.train.evaluate import SplitRanks
from linkedout.train.outputs import ranks_table, write_table_atomic
from linkedout.util.arrow import read_arrow

STAGES = SCHEMA_DIR / "stages"
FIXTURES = SCHEMA_DIR / "fixtures" / "stages"


def _schema(name: str) -> dict:
    return json.loads((STAGES / f"{name}.schema.json").read_text())


def _arrow_name(t: pa.DataType) -> str:
    """An Arrow type in the schemas' notation (`utf8`, `int32`, `list<utf8>`, ...)."""
    if pa.types.is_string(t):
        return "utf8"
    if pa.types.is_integer(t):
        return f"{'int' if pa.types.is_signed_integer(t) else 'uint'}{t.bit_width}"
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_list(t):
        return f"list<{_arrow_name(t.value_type)}>"
    return str(t)


def problems(table: pa.Table, name: str) -> list[str]:
    """Column names and types in order, then every row, against a row schema of schemas/stages/."""
    schema = _schema(name)
    declared = [f"{k}: {p['x-arrow']}" for k, p in schema["properties"].items()]
    actual = [f"{f.name}: {_arrow_name(f.type)}" for f in table.schema]
    out = []
    if actual[: len(declared)] != declared:
        out.append(f"columns {actual}; schema {declared}")
    extra = schema.get("x-arrow-additional")
    out += [f"column {c} not in the schema" for c in actual[len(declared):] if not (extra and c.endswith(f": {extra}"))]
    validator = Draft202012Validator(schema)
    for i, row in enumerate(table.to_pylist()):
        out += [f"row {i}: {e.message}" for e in validator.iter_errors(row)]
    return out


ARROW_FIXTURES = [
    ("ts/items.arrow", "items"), ("ts/train.arrow", "train"), ("ts/valid.arrow", "eval-split"), ("ts/test.arrow", "eval-split"),
    ("ts/ranks.arrow", "ranks"), ("ts/extract-items.arrow", "extract-items"), ("py/ranks.arrow", "ranks"),
]


@pytest.mark.parametrize("file,schema", ARROW_FIXTURES)
def test_fixture_matches_its_schema(file: str, schema: str) -> None:
    assert problems(read_arrow(FIXTURES / file), schema) == []


def test_python_reads_the_typescript_split_and_catalogue() -> None:
    split = FIXTURES / "ts"
    catalogue = Catalogue.read(split / "items.arrow")
    users, sequences = read_train_sequences(split / "train.arrow", catalogue)
    valid = EvalSplit.read(split / "valid.arrow", "valid", catalogue)
    test = EvalSplit.read(split / "test.arrow", "test", catalogue)
    assert len(users) == len(sequences) == len(valid) == len(test) == read_arrow(split / "train.arrow").num_rows
    items = read_items(split / "extract-items.arrow")
    assert [it["item"] for it in items] == catalogue.items and any(it.get("tags") for it in items)


def test_the_ranks_writer_matches_the_schema(tmp_path: Path) -> None:
    items = Catalogue.read(FIXTURES / "ts" / "items.arrow").items
    parts = [SplitRanks("valid", ["u1", "u2"], np.array([0, 2]), np.array([1, 5], np.int32), [np.array([0, 1]), np.array([1, 0])])]
    write_table_atomic(tmp_path / "ranks.arrow", ranks_table(parts, items))
    assert problems(read_arrow(tmp_path / "ranks.arrow"), "ranks") == []
    broken = ranks_table(parts, items).set_column(3, "rank", pa.array([0, 5], pa.int32()))  # ranks are 1-based
    assert len(problems(broken, "ranks")) == 1


def _store(tmp_path: Path) -> TokenStore:
    s = StoreSettings(key="k", model="tiny", dataset="d", taps=(0, 1), num_layers=2, d_model=4, merged_tokens=2, new_tokens=1,
                      max_new_tokens=2, prompts=("p",), frames=2, dtype="float16")
    rng = np.random.default_rng(0)

    def t(*shape: int) -> torch.Tensor:
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    batch = FeatureBatch(items=["x", "y"], prompts=[0, 0], n_old=[3, 4], old_merged=t(2, 2, 2, 4), old_merged_size=torch.ones(2, 2, 2),
                         new=t(2, 2, 1, 4), old_mean=t(2, 2, 4), old_last=t(2, 2, 4), new_last=t(2, 2, 4))
    return write_token_store(tmp_path / "store", s, batch, failed=[Failure("z", "missing video")])


def test_tokenstore_files_match_their_schemas_and_names(tmp_path: Path) -> None:
    _store(tmp_path)
    manifest_schema = json.loads((SCHEMA_DIR / "tokenstore.manifest.schema.json").read_text())
    summary_schema = _schema("tokenstore.shard-summary")
    for store in (tmp_path / "store", FIXTURES / "py" / "tokenstore"):  # written now, and the shared fixture
        manifest = json.loads((store / manifest_schema["x-file"]).read_text())
        assert list(Draft202012Validator(manifest_schema).iter_errors(manifest)) == []
        for shard in range(manifest["num_shards"]):
            summary = json.loads((store / summary_schema["x-file"].format(shard=shard)).read_text())
            assert list(Draft202012Validator(summary_schema).iter_errors(summary)) == []
            assert summary["file"] == summary_schema["x-data-file"].format(shard=shard)
    # the part files the writer names are the ones the schema (and so the scheduler) knows
    part = PART_RE.match(summary_schema["x-part-file"].format(shard=7, part=12))
    assert part is not None and part.group(1) == "7"

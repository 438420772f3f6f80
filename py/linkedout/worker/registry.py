"""The explicit op table: op name -> Op(handler, expected frames, ...).

Adding an op = import its handler and add one entry here, plus its args schema at
schemas/protocol/ops/<op name>.args.schema.json (JSON Schema 2020-12, additionalProperties: false; the
worker validates args against the schema named by the op), then `npm run gen:config` for its typed args
(`<Op>Args` in linkedout/protocol/op_args.py, `OpArgs["<op>"]` in ts/worker/generated/ops.ts).
Dispatch is a dict lookup in this table only — never an attribute lookup from a string.
"""

from __future__ import annotations

from linkedout.data.ops import render_videos_op
from linkedout.report.ops import plot_report

from . import builtin_ops
from linkedout.extract import ops as extract_ops
from linkedout.protocol.op import Op, TensorSpec
from linkedout.bench import extract as extract_bench
from linkedout.bench import rank as rank_bench
from linkedout.bench import serve as serve_bench
from linkedout.bench import train as train_bench
from linkedout.serve import ops as serve_ops
from linkedout.train import ops as train_ops

_FLOATING = frozenset({"float16", "bfloat16", "float32", "float64"})

OPS: dict[str, Op] = {
    # control ops run on the socket thread so they answer even while another op runs
    "hello": Op(handler=builtin_ops.hello, frames={}, inline=True),
    "ping": Op(handler=builtin_ops.ping, frames={}, inline=True),
    "shutdown": Op(handler=builtin_ops.shutdown, frames={}, inline=True),
    # diagnostics
    "echo": Op(handler=builtin_ops.echo, frames=None, progress=True),
    "matmul": Op(handler=builtin_ops.matmul,
                 frames={"a": TensorSpec(_FLOATING, (None, None)), "b": TensorSpec(_FLOATING, (None, None))}),
    # synthetic dataset (py/linkedout/data)
    "render_videos": Op(handler=render_videos_op, frames={}, progress=True),
    # extraction (py/linkedout/extract)
    "build_tiny_model": Op(handler=extract_ops.build_tiny_model_op, frames={}),
    "extract": Op(handler=extract_ops.extract_op, frames={}, progress=True),
    "finalize_store": Op(handler=extract_ops.finalize_store_op, frames={}),
    "bench_extract": Op(handler=extract_bench.bench_extract_op, frames={}, progress=True),
    # training and ranking (py/linkedout/train)
    "train": Op(handler=train_ops.train_op, frames={}, progress=True),
    "rank": Op(handler=train_ops.rank_op, frames={}, progress=True),
    "bench_train": Op(handler=train_bench.bench_train_op, frames={}, progress=True),
    "bench_rank_floor": Op(handler=rank_bench.bench_rank_floor_op, frames={}),
    # store-and-retrieve (py/linkedout/serve): EmbeddingStore and online ranking
    "embed": Op(handler=serve_ops.embed, frames={}, progress=True),
    "recommend": Op(handler=serve_ops.recommend, frames={}),
    "add_items": Op(handler=serve_ops.add_items, frames={}, progress=True),
    "bench_serve": Op(handler=serve_bench.bench_serve, frames={}, progress=True),
    # run reports (py/linkedout/report)
    "plot_report": Op(handler=plot_report, frames={}, progress=True),
}

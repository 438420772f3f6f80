"""The explicit op table: op name -> Op(handler, args schema, expected frames, ...).

Adding an op = import its handler and add one entry here, plus its args schema at
schemas/protocol/ops/<op>.args.schema.json (JSON Schema 2020-12, additionalProperties: false).
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
from linkedout.bench import serve_scale as serve_scale_bench
from linkedout.bench import train as train_bench
from linkedout.serve import ops as serve_ops
from linkedout.train import ops as train_ops

_FLOATING = frozenset({"float16", "bfloat16", "float32", "float64"})

OPS: dict[str, Op] = {
    # control ops run on the socket thread so they answer even while another op runs
    "hello": Op(handler=builtin_ops.hello, args_schema="hello", frames={}, inline=True),
    "ping": Op(handler=builtin_ops.ping, args_schema="ping", frames={}, inline=True),
    "shutdown": Op(handler=builtin_ops.shutdown, args_schema="shutdown", frames={}, inline=True),
    # diagnostics
    "echo": Op(handler=builtin_ops.echo, args_schema="echo", frames=None, progress=True),
    "matmul": Op(handler=builtin_ops.matmul, args_schema="matmul",
                 frames={"a": TensorSpec(_FLOATING, (None, None)), "b": TensorSpec(_FLOATING, (None, None))}),
    # synthetic dataset (py/linkedout/data)
    "render_videos": Op(handler=render_videos_op, args_schema="render_videos", frames={}, progress=True),
    # extraction (py/linkedout/extract)
    "build_tiny_model": Op(handler=extract_ops.build_tiny_model_op, args_schema="build_tiny_model", frames={}),
    "extract": Op(handler=extract_ops.extract_op, args_schema="extract", frames={}, progress=True),
    "finalize_store": Op(handler=extract_ops.finalize_store_op, args_schema="finalize_store", frames={}),
    "bench_extract": Op(handler=extract_bench.bench_extract_op, args_schema="bench_extract", frames={}, progress=True),
    # training and ranking (py/linkedout/train)
    "train": Op(handler=train_ops.train_op, args_schema="train", frames={}, progress=True),
    "rank": Op(handler=train_ops.rank_op, args_schema="rank", frames={}, progress=True),
    "bench_train": Op(handler=train_bench.bench_train_op, args_schema="bench_train", frames={}, progress=True),
    "bench_rank_floor": Op(handler=rank_bench.bench_rank_floor_op, args_schema="bench_rank_floor", frames={}),
    # store-and-retrieve (py/linkedout/serve): EmbeddingStore and online ranking
    "embed": Op(handler=serve_ops.embed, args_schema="embed", frames={}, progress=True),
    "recommend": Op(handler=serve_ops.recommend, args_schema="recommend", frames={}),
    "build_index": Op(handler=serve_ops.build_index, args_schema="build_index", frames={}),
    "add_items": Op(handler=serve_ops.add_items, args_schema="add_items", frames={}, progress=True),
    "bench_serve": Op(handler=serve_bench.bench_serve, args_schema="bench_serve", frames={}, progress=True),
    "bench_serve_scale": Op(handler=serve_scale_bench.bench_serve_scale, args_schema="bench_serve_scale", frames={}, progress=True),
    "bench_add_items": Op(handler=serve_scale_bench.bench_add_items, args_schema="bench_add_items", frames={}, progress=True),
    # run reports (py/linkedout/report)
    "plot_report": Op(handler=plot_report, args_schema="plot_report", frames={}, progress=True),
}

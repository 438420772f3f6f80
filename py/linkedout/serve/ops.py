"""Worker ops of the store-and-retrieve path (paper §3.4): ``embed``, ``recommend``, ``add_items``.

- ``embed``      after training: every catalogue item's z_v and π into the run's EmbeddingStore.
- ``recommend``  online: keeps the dense catalogue and the user tower in ``ctx.state`` per run
                 directory and answers a batch of queries; bad queries are answered with an error
                 object each (status + message), never by failing the whole call.
- ``add_items``  cold start: embed videos the model never saw (TokenStore features -> item tower)
                 and append them to the store; a running ``recommend`` picks them up on its next
                 refresh check.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore, EmbeddingStoreError
from linkedout.serve.ann import INDEX_DIR, AnnIndex, AnnSettings, resolve_mode
from linkedout.serve.ann_service import AnnRankingService, SegmentedCatalogue
from linkedout.serve.service import Answer, Query, QueryError, RankingService, ServingState, refresh_if_changed
from linkedout.serve.model import TrainedModel, catalogue_of, embed_catalogue, embed_new_items, load_trained_model
from linkedout.store.token_store import TokenStore
from linkedout.train.data import Catalogue, ContentSource, open_content
from linkedout.train.spec import TrainSpec
from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult, torch_threads
from linkedout.protocol.op_args import EmbedArgs

STORE_DIR = "embeddings"


def _store_dir(args: dict[str, Any]) -> Path:
    return Path(args.get("store_dir") or Path(args["run_dir"]) / STORE_DIR)


def _model_run_dir(run_dir: str | Path, store: EmbeddingStore) -> Path:
    """Where best.pt is: the given run dir, else the checkpoint the store was embedded from (the stage
    graph keeps the EmbeddingStore in its own stage directory, apart from the training run)."""
    if (Path(run_dir) / "best.pt").exists() or not store.manifest.get("checkpoint"):
        return Path(run_dir)
    return Path(store.manifest["checkpoint"]).parent


def embed(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Write ``<run_dir>/embeddings`` (or ``out``): z_v and π of every items.arrow row, keyed by item id.

    ``split_dir`` and ``store`` (the TokenStore) default to the ones the run was trained with (run_dir/spec.json).
    """
    call = EmbedArgs.from_json(args, "args")
    run_dir = Path(call.run_dir)
    spec = TrainSpec.read(run_dir / "spec.json") if (run_dir / "spec.json").exists() else None
    split = call.split_dir or (spec.split_dir if spec else None)
    if not split:
        raise OpError("ArgsInvalid", f"{run_dir / 'spec.json'}: missing, so split_dir must be given")
    split_dir = Path(split)
    trained = load_trained_model(run_dir)
    catalogue = Catalogue.read(split_dir / "items.arrow")
    if len(catalogue) != trained.shapes["n_items"]:
        raise OpError("ArgsInvalid", f"{split_dir / 'items.arrow'}: {len(catalogue)} items, but {trained.checkpoint} "
                                     f"was trained on {trained.shapes['n_items']}: wrong split for this run")
    token_store = call.store or (spec.store if spec else None)
    content = open_content(token_store, catalogue, trained.cfg)
    started = time.monotonic()
    with torch_threads(call.threads):
        z, gates = embed_catalogue(trained, content, len(catalogue), call.batch_size,
                                   lambda done, total: ctx.progress(done, total, "items", "embedding the catalogue"))
    out = Path(call.out or run_dir / STORE_DIR)
    store = EmbeddingStore.create(out, catalogue.items, z, gates, trained.version, extra={
        "layers": trained.layers,
        "checkpoint": str(trained.checkpoint.resolve()),
        "token_store": str(Path(token_store).resolve()) if token_store else None,
        "split_dir": str(split_dir.resolve()),
    })
    result = {"store_dir": str(out), "n_items": len(catalogue), "d_z": store.d_z, "taps": store.taps,
              "model_version": trained.version, "seconds": time.monotonic() - started}
    settings = AnnSettings.from_json(call.ann)
    if resolve_mode(call.index, len(catalogue), settings) == "ann":
        ctx.progress(0, 1, "index", "building the ANN index")
        with torch_threads(call.threads):
            index, _ = ready_index(store, z, int(store.manifest["table_version"]), settings, call.threads or 1, rebuild=True)
        result["index"] = {"dir": str(out / INDEX_DIR), "n_indexed": index.n_indexed, "build_s": index.meta["build_s"]}
    return OpResult(result)


def _serving_state(args: dict[str, Any], ctx: OpContext) -> ServingState:
    """Load (once per run + store directory) the catalogue, the trained user tower and, for
    ``index: ann`` (or ``auto`` above ``ann.exact_up_to`` items), the approximate index."""
    key = ("serving", str(Path(args["run_dir"]).resolve()), str(_store_dir(args).resolve()))
    state = ctx.state.get(key)  # type: ignore[call-overload]
    if isinstance(state, ServingState):
        return state
    store = EmbeddingStore.open(_store_dir(args))
    mtime = store.manifest_mtime_ns()
    trained = load_trained_model(_model_run_dir(args["run_dir"], store))
    if trained.version != store.model_version:
        raise OpError("StoreStale", f"{store.path}: made by model version {store.model_version}, but "
                                    f"{trained.checkpoint} is {trained.version}; run the embed stage again")
    catalogue = store.load()
    settings = AnnSettings.from_json(args.get("ann"))
    try:
        mode = resolve_mode(str(args.get("index", "exact")), catalogue.n_items, settings)
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    notes: list[str] = []
    try:
        tower = trained.serving_tower(str(args.get("tower", "frozen")))  # type: ignore[arg-type]
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    if tower.note:
        notes.append(tower.note)
    service: RankingService
    if mode == "exact":
        service = RankingService(catalogue, tower, max_history=trained.cfg.ranker.max_history)
    else:
        threads = int(args.get("threads") or 1)

        def load_store(st: EmbeddingStore, dense: DenseCatalogue | None = None) -> tuple[SegmentedCatalogue, AnnIndex, str | None]:
            dense = dense if dense is not None else st.load()
            index, note = ready_index(st, dense.z, dense.version, settings, threads)
            return SegmentedCatalogue(dense), index, note  # (the exact path's transposed copy is not kept)

        segmented, index, note = load_store(store, catalogue)
        del catalogue
        if note:
            notes.append(note)
        service = AnnRankingService(segmented, tower, index, settings, max_history=trained.cfg.ranker.max_history,
                                    on_event=notes.append, store_dir=str(store.path), threads=threads,
                                    store_id=store.store_id, load_store=load_store)
        if segmented.n_items > index.n_indexed:  # rows added after the index was saved: delta from the start
            service.maybe_rebuild()
    state = ServingState(store=store, service=service, manifest_mtime_ns=mtime, checked_at=time.monotonic(),
                         extra={"trained": trained, "notes": notes, "tower": tower.mode})
    ctx.state[key] = state  # type: ignore[index]
    return state


def ready_index(store: EmbeddingStore, z: Any, table_version: int, settings: AnnSettings, threads: int,
                *, rebuild: bool = False) -> tuple[AnnIndex, str | None]:
    """The store's saved index if it is current, else a new one built now and saved beside the store.
    The note says what was done and why (None: the saved index was used as is)."""
    index = None if rebuild else AnnIndex.load(store.path)
    n_items = int(z.shape[0])
    why = "rebuild asked for (embed stage or --build-index)" if rebuild else "none saved"
    if index is not None:
        stale = index.stale_reason(model_version=store.model_version, table_version=table_version, n_items=n_items,
                                   d_z=store.d_z, settings=settings)
        if stale is None:
            return index, None
        why = f"stale: {stale}"
    built = AnnIndex.build(z, model_version=store.model_version, table_version=table_version, settings=settings,
                           threads=threads)
    built.save(store.path)
    note = (f"ann index {store.path / INDEX_DIR}: {why}; built {built.meta['factory']} over {n_items} items "
            f"in {built.meta['build_s']:.1f} s")
    return built, note


def build_index(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Op ``build_index`` (``lo-exp serve --build-index``): build the store's ANN index now and save it."""
    try:
        store = EmbeddingStore.open(_store_dir(args))
    except EmbeddingStoreError as e:
        raise OpError("NotFound", str(e)) from e
    catalogue = store.load()
    settings = AnnSettings.from_json(args.get("ann"))
    with torch_threads(args.get("threads")):
        index, note = ready_index(store, catalogue.z, catalogue.version, settings, int(args.get("threads") or 1),
                                  rebuild=bool(args.get("rebuild", True)))
    return OpResult({"index_dir": str(store.path / INDEX_DIR), "n_indexed": index.n_indexed, "note": note,
                     "build_s": index.meta["build_s"], "factory": index.meta["factory"]})


def recommend(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Rank a batch of queries (``queries: []`` only loads the store and reports the catalogue)."""
    state = _serving_state(args, ctx)
    refresh_if_changed(state, min_interval_s=float(args.get("refresh_s", 0.5)))
    service = state.service
    service.max_k = int(args.get("max_k", service.max_k))
    queries = [Query(history=q["history"], k=int(q.get("k", 10)), exclude=q.get("exclude", []),
                     gates=bool(q.get("gates", False))) for q in args["queries"]]
    started = time.perf_counter()
    answers = service.recommend(queries) if queries else []
    compute_ms = (time.perf_counter() - started) * 1e3
    trained: TrainedModel = state.extra["trained"]
    cat = service.catalogue
    notes: list[str] = state.extra["notes"]
    out: dict[str, Any] = {
        "model_version": cat.model_version,
        "n_items": cat.n_items,
        "d_z": cat.d_z,
        "taps": int(cat.gates.shape[1]),
        "layers": trained.layers,
        "compute_ms": compute_ms,
        "tower": state.extra["tower"],
        "answers": [_answer_json(a) for a in answers],
    }
    if isinstance(service, AnnRankingService):
        out["index"] = service.describe()
    if notes:  # index built, rebuilt or failed: one line each for the service's log
        out["notes"] = list(notes)
        notes.clear()
    return OpResult(out)


def _answer_json(a: Answer | QueryError) -> dict[str, Any]:
    if isinstance(a, QueryError):
        return {"error": {"status": a.status, "message": str(a)}}
    out: dict[str, Any] = {"items": a.items, "scores": a.scores}
    if a.gates is not None:
        out["gates"] = a.gates
    return out


def add_items_from_store(run_dir: str | Path, new_store: TokenStore, store_dir: str | Path | None = None,
                         batch_size: int = 64) -> dict[str, Any]:
    """Embed every item of ``new_store`` (a TokenStore of new videos, same extraction settings as the
    run's) with the trained model and append it to the run's EmbeddingStore."""
    store = EmbeddingStore.open(store_dir or Path(run_dir) / STORE_DIR)
    trained = load_trained_model(_model_run_dir(run_dir, store))
    items = list(new_store.items)
    if not items:
        raise OpError("NothingToAdd", f"{new_store.dir}: no item was extracted (failed: {len(new_store.failed)})")
    content = ContentSource(new_store, catalogue_of(items), trained.cfg)
    if content.n_prompts != trained.shapes["n_prompts"] or new_store.d_model != trained.shapes["d_model"]:
        raise OpError("ArgsInvalid", f"{new_store.dir}: {content.n_prompts} prompts, d_model {new_store.d_model}; the model "
                                     f"was trained on {trained.shapes['n_prompts']} prompts, d_model {trained.shapes['d_model']}")
    z, gates = embed_new_items(trained, content, len(items), batch_size)
    n_items = store.add(items, z, gates, trained.version)
    return {"added": items, "n_items": n_items, "model_version": trained.version}


def add_items(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Cold start: extract new videos with the run's extraction settings, fuse them with the trained
    item tower, append them to the EmbeddingStore. No retraining; a running service sees them at its
    next refresh check.

    The extraction settings (backbone, prompt bank, frames, taps, M, new tokens, dtype) are those of the
    catalogue's TokenStore, recorded by ``embed`` in the store manifest, so new items are embedded
    exactly as the catalogue was. New videos go to a TokenStore of their own under
    ``<store_dir>/added/`` (resumable like any extraction). Videos that cannot be decoded are reported
    in ``failed`` and not added; the others are.
    """
    from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
    from linkedout.extract.ops import cached_backbone

    run_dir = Path(args["run_dir"])
    store_dir = _store_dir(args)
    try:
        store = EmbeddingStore.open(store_dir)
    except EmbeddingStoreError as e:
        raise OpError("NotFound", str(e)) from e
    videos = [dict(v) for v in args["videos"]]
    ids = [str(v["item"]) for v in videos]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise OpError("ArgsInvalid", f"videos: item {dup!r} is listed twice")
    known = set(store.load().items)
    clash = [i for i in ids if i in known]
    if clash:
        raise OpError("ArgsInvalid", f"item {clash[0]!r} is already in {store_dir} ({len(clash)} of the {len(ids)} given are)")
    token_store_dir = args.get("token_store") or store.manifest.get("token_store")
    if not token_store_dir:
        raise OpError("ArgsInvalid", f"{store_dir / 'store.json'}: no catalogue TokenStore recorded (an ID-only run cannot embed new videos)")
    catalogue_settings = TokenStore.open(token_store_dir).settings
    settings = ExtractSettings(
        frames=catalogue_settings.frames, prompts=catalogue_settings.prompts,
        side_channels=catalogue_settings.side_channels, taps=catalogue_settings.configured_taps or catalogue_settings.taps,
        merged_tokens=catalogue_settings.merged_tokens, max_new_tokens=catalogue_settings.max_new_tokens,
        batch_size=int(args.get("batch_size", 8)), store_dtype=catalogue_settings.dtype,
    )
    backbone = cached_backbone(ctx, args.get("model_path") or catalogue_settings.model, args.get("model_dtype", "auto"))
    extractor = Extractor(backbone, settings)
    if list(extractor.taps) != list(catalogue_settings.taps) or backbone.d_model != catalogue_settings.d_model:
        raise OpError("ArgsInvalid", f"backbone {backbone.path}: taps {extractor.taps}, d_model {backbone.d_model}; the catalogue "
                                     f"was extracted with taps {list(catalogue_settings.taps)}, d_model {catalogue_settings.d_model}")
    batch_key = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
    new_dir = store_dir / "added" / f"tokens-{batch_key}"
    report = extract_shard(extractor, str(new_dir), key=f"{catalogue_settings.key}+added-{batch_key}", dataset="added",
                           items=videos, shard=0, num_shards=1,
                           progress=lambda done, total, msg: ctx.progress(done, total, "videos", msg))
    if not report.failed or len(report.failed) < len(ids):
        summary = add_items_from_store(run_dir, TokenStore.open(new_dir), store_dir, int(args.get("batch_size", 64)))
    else:
        summary = {"added": [], "n_items": len(known), "model_version": store.model_version}
    return OpResult({**summary, "failed": report.failed, "token_store": str(new_dir)})

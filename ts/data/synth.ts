// The built-in synthetic dataset: MicroLens's file layout (variant "synth"), real encoded videos, and
// planted structure that lets content-aware models be told apart from ID-only ones (docs/data.md):
//   - latent topics, each visible in every frame (background colour + shape + motion) and named in
//     most titles;
//   - users prefer one or two topics and visit them in a fixed per-user cycle (e.g. A A B A A B),
//     sometimes following a topic's "series" order (item → its successor), with a little noise;
//   - Zipf-like popularity inside each topic;
//   - cold items: rare in training (0–2 train occurrences) but planted as test targets where the
//     user's cycle predicts their topic, so only content can rank them.
// TypeScript decides everything (who, what, when, which pixels); Python only renders the given specs
// (worker op `render_videos`). Same seed → byte-identical CSVs and identical decoded frames.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { csvField } from "./csv.js";
import { DataError } from "./errors.js";
import { Rng, WeightedSampler } from "./prng.js";

export const SYNTH_VARIANT = "synth";

export type SynthPreset = "tiny" | "default" | "10k";
export type VideoCodec = "mpeg4" | "libx264";
type PresetSizes = { users: number; items: number; topics: number };

/** `dataset.synthetic` in schemas/config/dataset.schema.json: the one place its defaults and presets are written. */
interface SyntheticSchema {
  properties: {
    preset: { default: SynthPreset; "x-presets": Record<SynthPreset, PresetSizes> };
    seed: { default: number };
    cold_share: { default: number };
    width: { default: number };
    height: { default: number };
    fps: { default: number };
    codec: { default: VideoCodec };
  };
}
const SYNTHETIC_SCHEMA = (
  JSON.parse(readFileSync(new URL("../../schemas/config/dataset.schema.json", import.meta.url), "utf8")) as {
    properties: { synthetic: SyntheticSchema };
  }
).properties.synthetic.properties;

/** Sizes per preset (the schema's `x-presets`); explicit `users`/`items`/`topics` override them. */
export const SYNTH_PRESETS: Readonly<Record<SynthPreset, PresetSizes>> = SYNTHETIC_SCHEMA.preset["x-presets"];

/** What an unset option means: the schema's defaults (a config gets the same from the loader). */
export const SYNTH_DEFAULTS = {
  preset: SYNTHETIC_SCHEMA.preset.default,
  seed: SYNTHETIC_SCHEMA.seed.default,
  coldShare: SYNTHETIC_SCHEMA.cold_share.default,
  width: SYNTHETIC_SCHEMA.width.default,
  height: SYNTHETIC_SCHEMA.height.default,
  fps: SYNTHETIC_SCHEMA.fps.default,
  codec: SYNTHETIC_SCHEMA.codec.default,
} as const;

export interface SynthOptions {
  /** output directory (created) */
  out: string;
  preset?: SynthPreset;
  /** users/items/topics: unset or 0 = the preset's */
  users?: number;
  items?: number;
  topics?: number;
  seed?: number;
  /** share of items planted cold (rare in training, test targets). Unset: the schema's default. */
  coldShare?: number;
  width?: number;
  height?: number;
  fps?: number;
  codec?: VideoCodec;
  /** render videos and covers (needs a worker). Default true. */
  videos?: boolean;
  /** items per render_videos call. Default 50. */
  chunk?: number;
  /** render calls in flight at once (use the pool size with a WorkerPool). Default 1. */
  parallel?: number;
}

export interface ResolvedSynthOptions {
  users: number;
  items: number;
  topics: number;
  seed: number;
  coldShare: number;
  width: number;
  height: number;
  fps: number;
  codec: VideoCodec;
}

/** What the `render_videos` op needs: a WorkerClient or a WorkerPool both fit. */
export interface RenderWorker {
  call(
    op: string,
    args: Record<string, unknown>,
    opts?: { onProgress?: (p: { done: number; total: number | null; unit: string; message: string }) => void },
  ): Promise<{ result: Record<string, unknown> }>;
}

export interface SynthProgress {
  stage: "plan" | "csv" | "videos";
  done: number;
  total: number;
}

type Shape = "circle" | "ring" | "square" | "diamond" | "triangle" | "cross" | "bar";
type Motion = "left_right" | "up_down" | "orbit" | "diagonal" | "zoom" | "spin";
const SHAPES: readonly Shape[] = ["circle", "ring", "square", "diamond", "triangle", "cross", "bar"];
const MOTIONS: readonly Motion[] = ["left_right", "up_down", "orbit", "diagonal", "zoom", "spin"];

export interface Topic {
  name: string;
  words: readonly string[];
  background: readonly [number, number, number];
  foreground: readonly [number, number, number];
  shape: Shape;
  motion: Motion;
}

const TOPIC_TABLE: readonly Omit<Topic, "shape" | "motion">[] = [
  { name: "cooking", words: ["cooking", "recipe", "kitchen"], background: [235, 125, 35], foreground: [255, 255, 255] },
  { name: "football", words: ["football", "goal", "match"], background: [40, 150, 60], foreground: [255, 255, 255] },
  { name: "travel", words: ["travel", "trip", "beach"], background: [60, 150, 230], foreground: [255, 240, 80] },
  { name: "cats", words: ["cat", "kitten", "meow"], background: [150, 70, 190], foreground: [255, 220, 120] },
  { name: "music", words: ["music", "song", "guitar"], background: [220, 40, 120], foreground: [255, 255, 255] },
  { name: "gaming", words: ["gaming", "game", "speedrun"], background: [25, 35, 110], foreground: [80, 255, 120] },
  { name: "fitness", words: ["fitness", "workout", "gym"], background: [200, 30, 30], foreground: [255, 255, 255] },
  { name: "cars", words: ["car", "drive", "engine"], background: [110, 110, 120], foreground: [250, 230, 30] },
  { name: "beauty", words: ["makeup", "beauty", "skincare"], background: [245, 170, 200], foreground: [120, 20, 80] },
  { name: "science", words: ["science", "experiment", "lab"], background: [20, 140, 140], foreground: [255, 255, 255] },
  { name: "comedy", words: ["comedy", "prank", "funny"], background: [250, 215, 40], foreground: [30, 30, 30] },
  { name: "dogs", words: ["dog", "puppy", "walk"], background: [120, 75, 35], foreground: [250, 250, 250] },
];

/** The topics used by a dataset with `n` topics (at most 12): each with a unique (shape, motion) pair. */
export function synthTopics(n: number): Topic[] {
  if (!Number.isInteger(n) || n < 1 || n > TOPIC_TABLE.length) throw new DataError(`synthetic topics must be 1..${TOPIC_TABLE.length}, got ${n}`);
  return TOPIC_TABLE.slice(0, n).map((t, k) => ({ ...t, shape: SHAPES[k % SHAPES.length]!, motion: MOTIONS[k % MOTIONS.length]! }));
}

export interface VideoSpec {
  item: string;
  background: [number, number, number];
  foreground: [number, number, number];
  shape: Shape;
  motion: Motion;
  size: number;
  angle: number;
  speed: number;
  phase: number;
  seconds: number;
  noise: number;
  seed: number;
}

export interface SynthItem {
  item: string;
  topic: number;
  /** rank by popularity inside its topic (0 = most popular) */
  topicRank: number;
  cold: boolean;
  title: string;
  /** whether the title names the topic */
  titleNamesTopic: boolean;
  video: VideoSpec;
}

export interface SynthUser {
  user: string;
  /** preferred topics, primary first */
  topics: number[];
  /** the topic cycle the user follows */
  cycle: number[];
  items: string[];
  timestamps: number[];
}

export interface SynthPlan {
  options: ResolvedSynthOptions;
  topics: Topic[];
  items: SynthItem[];
  users: SynthUser[];
}

export function resolveSynthOptions(opts: Omit<SynthOptions, "out">): ResolvedSynthOptions {
  const preset = SYNTH_PRESETS[opts.preset ?? SYNTH_DEFAULTS.preset];
  if (!preset) throw new DataError(`unknown synthetic preset '${opts.preset}' (expected ${Object.keys(SYNTH_PRESETS).join(", ")})`);
  const r: ResolvedSynthOptions = {
    // 0 (the config schema's default) means "the preset's"
    users: opts.users || preset.users,
    items: opts.items || preset.items,
    topics: opts.topics || preset.topics,
    seed: opts.seed ?? SYNTH_DEFAULTS.seed,
    coldShare: opts.coldShare ?? SYNTH_DEFAULTS.coldShare,
    width: opts.width ?? SYNTH_DEFAULTS.width,
    height: opts.height ?? SYNTH_DEFAULTS.height,
    fps: opts.fps ?? SYNTH_DEFAULTS.fps,
    codec: opts.codec ?? SYNTH_DEFAULTS.codec,
  };
  const int = (name: keyof ResolvedSynthOptions, lo: number) => {
    const v = r[name] as number;
    if (!Number.isInteger(v) || v < lo) throw new DataError(`synthetic ${name} must be an integer ≥ ${lo}, got ${v}`);
  };
  int("users", 1);
  int("topics", 1);
  int("items", Math.max(10, 3 * r.topics));
  int("seed", 0);
  int("fps", 1);
  if (r.seed > 0xffffffff) throw new DataError(`synthetic seed must be < 2^32, got ${r.seed}`);
  if (!(r.coldShare >= 0 && r.coldShare <= 0.5)) throw new DataError(`synthetic coldShare must be in [0, 0.5], got ${r.coldShare}`);
  for (const k of ["width", "height"] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 16 || r[k] % 2) throw new DataError(`synthetic ${k} must be an even integer ≥ 16, got ${r[k]}`);
  }
  synthTopics(r.topics);
  return r;
}

const ADJECTIVES = ["Amazing", "Quick", "Daily", "Best", "Easy", "Crazy", "Relaxing", "Epic", "Tiny", "Classic"];
const NOUNS = ["moments", "tips", "challenge", "highlights", "vlog", "story", "tutorial", "review"];
const BASE_TIME_MS = 1_640_995_200_000; // 2022-01-01T00:00:00Z
const DAY_MS = 86_400_000;

function makeTitle(rng: Rng, topic: Topic, n: number): { title: string; namesTopic: boolean } {
  const adj = rng.pick(ADJECTIVES);
  const noun = rng.pick(NOUNS);
  if (rng.bool(0.8)) {
    const word = rng.pick(topic.words);
    const form = rng.int(3);
    // The comma form needs CSV quoting, so the loader's quote handling is exercised by real data.
    const title =
      form === 0 ? `${adj} ${word} ${noun} #${n}` : form === 1 ? `${word} ${noun}, part ${1 + (n % 7)}` : `My ${adj.toLowerCase()} ${word} ${noun}`;
    return { title, namesTopic: true };
  }
  return { title: rng.bool(0.5) ? `${adj} ${noun} #${n}` : `Watch this "${noun}" ${n}`, namesTopic: false };
}

const clamp255 = (x: number) => Math.max(0, Math.min(255, Math.round(x)));

/** Decide everything about a synthetic dataset (pure; no files). */
export function planSynthetic(options: ResolvedSynthOptions): SynthPlan {
  const root = new Rng(options.seed);
  const topics = synthTopics(options.topics);
  const T = topics.length;

  // Items: ids "1".."M", topics balanced and shuffled; popularity rank inside each topic.
  const itemRng = root.fork("items");
  const topicOf = itemRng.shuffle(Array.from({ length: options.items }, (_, i) => i % T));
  const members: number[][] = Array.from({ length: T }, () => []);
  topicOf.forEach((t, i) => members[t]!.push(i));
  const topicRank = new Array<number>(options.items).fill(0);
  const cold = new Array<boolean>(options.items).fill(false);
  for (const list of members) {
    itemRng.shuffle(list);
    list.forEach((i, r) => (topicRank[i] = r));
    // The least popular tail of each topic is cold (at least one per topic when any are wanted).
    const nCold = options.coldShare > 0 && list.length >= 3 ? Math.max(1, Math.round(options.coldShare * list.length)) : 0;
    for (const i of list.slice(list.length - nCold)) cold[i] = true;
  }
  const titleRng = root.fork("titles");
  const videoRng = root.fork("videos");
  const items: SynthItem[] = topicOf.map((t, i) => {
    const topic = topics[t]!;
    const { title, namesTopic } = makeTitle(titleRng, topic, i + 1);
    const jitter = () => videoRng.uniform(-16, 16);
    const video: VideoSpec = {
      item: String(i + 1),
      background: [clamp255(topic.background[0] + jitter()), clamp255(topic.background[1] + jitter()), clamp255(topic.background[2] + jitter())],
      foreground: [...topic.foreground],
      shape: topic.shape,
      motion: topic.motion,
      size: round3(videoRng.uniform(0.16, 0.26)),
      angle: round3(videoRng.uniform(0, 90)),
      speed: round3(videoRng.uniform(0.75, 1.5)),
      phase: round3(videoRng.float()),
      seconds: videoRng.pick([2, 2.5, 3, 3.5, 4]),
      noise: 4,
      seed: videoRng.u32(),
    };
    return { item: String(i + 1), topic: t, topicRank: topicRank[i]!, cold: cold[i]!, title, titleNamesTopic: namesTopic, video };
  });

  // Samplers over warm items of each topic (Zipf-like inside the topic), topic popularity mildly skewed.
  const warm = members.map((list) => list.filter((i) => !cold[i]));
  const warmSamplers = warm.map((list) => new WeightedSampler(list.map((i) => 1 / Math.pow(topicRank[i]! + 1, 0.9))));
  const successor = new Map<number, number>(); // series order: each warm item's next item in its topic
  for (const list of warm) list.forEach((i, k) => successor.set(i, list[(k + 1) % list.length]!));
  const topicOrder = root.fork("topic-popularity").shuffle(Array.from({ length: T }, (_, t) => t));
  const topicWeight = new Array<number>(T).fill(0);
  topicOrder.forEach((t, r) => (topicWeight[t] = 1 / Math.pow(r + 1, 0.6)));
  const topicSampler = new WeightedSampler(topicWeight);
  const lengthSampler = new WeightedSampler(Array.from({ length: 11 }, (_, k) => Math.pow(0.72, k))); // 5..15

  const userRng = root.fork("users");
  const plannedTopics: number[][] = []; // the cycle's topic at each position (noise excluded)
  const users: SynthUser[] = [];
  for (let u = 0; u < options.users; u++) {
    const L = 5 + lengthSampler.sample(userRng);
    const primary = topicSampler.sample(userRng);
    const prefs = [primary];
    if (T > 1 && userRng.bool(0.6)) {
      let s = topicSampler.sample(userRng);
      while (s === primary) s = topicSampler.sample(userRng);
      prefs.push(s);
    }
    const cycle = prefs.length === 1 ? [primary] : userRng.pick([[primary, prefs[1]!], [primary, primary, prefs[1]!]]);
    const offset = userRng.int(cycle.length);
    const seq: number[] = [];
    const planned: number[] = [];
    const lastOfTopic = new Map<number, number>();
    for (let j = 0; j < L; j++) {
      const cycleTopic = cycle[(offset + j) % cycle.length]!;
      planned.push(cycleTopic);
      const t = userRng.bool(0.08) ? topicSampler.sample(userRng) : cycleTopic;
      let item: number;
      if (j > 0 && userRng.bool(0.03)) {
        item = seq[userRng.int(seq.length)]!; // a re-watch
      } else {
        const prev = lastOfTopic.get(t);
        const next = prev === undefined ? undefined : successor.get(prev);
        if (next !== undefined && !seq.includes(next) && userRng.bool(0.35)) {
          item = next;
        } else {
          item = warm[t]![warmSamplers[t]!.sample(userRng)]!;
          for (let tries = 0; tries < 10 && seq.includes(item); tries++) item = warm[t]![warmSamplers[t]!.sample(userRng)]!;
        }
      }
      seq.push(item);
      lastOfTopic.set(topicOf[item]!, item);
    }
    let time = BASE_TIME_MS + userRng.int(60) * DAY_MS + userRng.int(DAY_MS);
    const timestamps = seq.map(() => (time += 60_000 + userRng.int(3 * DAY_MS)));
    plannedTopics.push(planned);
    users.push({ user: String(u + 1), topics: prefs, cycle, items: seq.map((i) => String(i + 1)), timestamps });
  }

  // Plant cold items: as test targets where the user's cycle predicts their topic, and 0–2 times in training.
  // A cold item is in no sequence before it is planted here (warm sampling, series and re-watches draw warm
  // items only), so "user u does not hold it yet" is "u was not just made its test target": the per-topic
  // user lists are built once (ascending u, as a scan of all users gives) instead of rescanning every user's
  // sequence per cold item, which was quadratic in users (issue 11). The generated data are unchanged.
  const coldRng = root.fork("cold");
  const byLastTopic: number[][] = Array.from({ length: T }, () => []);
  plannedTopics.forEach((p, u) => byLastTopic[p[p.length - 1]!]!.push(u));
  const byEarlierTopic: number[][] = Array.from({ length: T }, () => []);
  plannedTopics.forEach((p, u) => {
    for (const t of new Set(p.slice(0, -2))) byEarlierTopic[t]!.push(u);
  });
  const without = (list: number[], drop: number[]): number[] => {
    const out = list.slice(); // native copies and searches: per cold item only 1–3 users leave the list
    for (const u of drop) out.splice(out.indexOf(u), 1);
    return out;
  };
  for (let i = 0; i < options.items; i++) {
    if (!cold[i]) continue;
    const id = String(i + 1);
    const t = topicOf[i]!;
    const candidates = coldRng.shuffle(byLastTopic[t]!.slice());
    const targeted = candidates.slice(0, 1 + coldRng.int(3));
    for (const u of targeted) {
      const seq = users[u]!.items;
      seq[seq.length - 1] = id;
    }
    byLastTopic[t] = without(byLastTopic[t]!, targeted); // a user is the test target of one cold item at most
    const trainUsers = coldRng.shuffle(without(byEarlierTopic[t]!, targeted));
    for (const u of trainUsers.slice(0, coldRng.int(3))) {
      const positions = plannedTopics[u]!.slice(0, -2).flatMap((pt, j) => (pt === t ? [j] : []));
      users[u]!.items[coldRng.pick(positions)] = id;
    }
  }
  return { options, topics, items, users };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The dataset's text files, exactly as written: pairs.csv (rows in time order), pairs.tsv, titles.csv. */
export function synthCsvs(plan: SynthPlan): { pairsCsv: string; pairsTsv: string; titlesCsv: string } {
  const rows: { user: string; u: number; item: string; t: number }[] = [];
  plan.users.forEach((usr, u) => usr.items.forEach((item, j) => rows.push({ user: usr.user, u, item, t: usr.timestamps[j]! })));
  rows.sort((a, b) => a.t - b.t || a.u - b.u);
  const pairsCsv = `user,item,timestamp\n${rows.map((r) => `${r.user},${r.item},${r.t}`).join("\n")}\n`;
  const pairsTsv = `${plan.users.map((u) => `${u.user}\t${u.items.join(" ")}`).join("\n")}\n`;
  const titlesCsv = `item,title\n${plan.items.map((it) => `${it.item},${csvField(it.title)}`).join("\n")}\n`;
  return { pairsCsv, pairsTsv, titlesCsv };
}

/** Columns of the synthetic side file (ts/data/side.ts), for configs that name them in extract.side_channels. */
export const SYNTH_SIDE_COLUMNS: readonly string[] = ["transcript"];

/**
 * The side file: a made-up transcript naming what the video shows (its shape and motion), for two
 * items in three; the third has none, so the absent-value path runs too.
 */
export function synthSideCsv(plan: SynthPlan): string {
  const rows = plan.items.map((it, i) => {
    const t = plan.topics[it.topic]!;
    const text = i % 3 === 2 ? "" : `Look at this ${t.shape} going ${t.motion.replace("_", " ")}, no words, just the ${t.shape}.`;
    return `${it.item},${csvField(text)}`;
  });
  return `item,${SYNTH_SIDE_COLUMNS.join(",")}\n${rows.join("\n")}\n`;
}

export interface SynthResult {
  dir: string;
  variant: string;
  files: { pairsCsv: string; pairsTsv: string; titles: string; side: string; videos: string; covers: string; truth: string };
  counts: { users: number; items: number; interactions: number; coldItems: number; topics: number };
  videos: { rendered: number; skipped: number; bytes: number } | null;
  plan: SynthPlan;
}

interface TruthFile {
  format: "linkedout.synth/1";
  options: ResolvedSynthOptions;
  complete: boolean;
  topics: { name: string; shape: Shape; motion: Motion; background: readonly number[] }[];
  items: { item: string; topic: number; cold: boolean; title_names_topic: boolean }[];
  users: { user: string; topics: number[]; cycle: number[] }[];
}

/**
 * Write a synthetic dataset to `opts.out` in the MicroLens layout (variant "synth") and, unless
 * `videos: false`, render its videos and covers through `worker` (op `render_videos`).
 * Resumable: rerunning with the same options skips videos already rendered; other options re-render.
 * `synth.json` records the options and the planted truth (topics, cold items) for analysis.
 */
export async function synthesizeDataset(
  opts: SynthOptions,
  worker: RenderWorker | null,
  onProgress?: (p: SynthProgress) => void,
): Promise<SynthResult> {
  const options = resolveSynthOptions(opts);
  const dir = resolve(opts.out);
  mkdirSync(dir, { recursive: true });
  const v = SYNTH_VARIANT;
  const files = {
    pairsCsv: join(dir, `MicroLens-${v}_pairs.csv`),
    pairsTsv: join(dir, `MicroLens-${v}_pairs.tsv`),
    titles: join(dir, `MicroLens-${v}_titles.csv`),
    side: join(dir, `MicroLens-${v}_side.csv`),
    videos: join(dir, `MicroLens-${v}_videos`),
    covers: join(dir, `MicroLens-${v}_covers`),
    truth: join(dir, "synth.json"),
  };
  let sameOptions = false;
  if (existsSync(files.truth)) {
    try {
      const old = JSON.parse(readFileSync(files.truth, "utf8")) as Partial<TruthFile>;
      sameOptions = JSON.stringify(old.options) === JSON.stringify(options);
    } catch {
      sameOptions = false;
    }
  }
  const plan = planSynthetic(options);
  onProgress?.({ stage: "plan", done: 1, total: 1 });
  const truth = (complete: boolean): string =>
    `${JSON.stringify(
      {
        format: "linkedout.synth/1",
        options,
        complete,
        topics: plan.topics.map((t) => ({ name: t.name, shape: t.shape, motion: t.motion, background: t.background })),
        items: plan.items.map((it) => ({ item: it.item, topic: it.topic, cold: it.cold, title_names_topic: it.titleNamesTopic })),
        users: plan.users.map((u) => ({ user: u.user, topics: u.topics, cycle: u.cycle })),
      } satisfies TruthFile,
      null,
      1,
    )}\n`;
  writeFileAtomic(files.truth, truth(false));
  const csvs = synthCsvs(plan);
  writeFileAtomic(files.pairsCsv, csvs.pairsCsv);
  writeFileAtomic(files.pairsTsv, csvs.pairsTsv);
  writeFileAtomic(files.titles, csvs.titlesCsv);
  writeFileAtomic(files.side, synthSideCsv(plan));
  onProgress?.({ stage: "csv", done: 1, total: 1 });

  let videos: SynthResult["videos"] = null;
  if (opts.videos !== false) {
    if (!worker) throw new DataError("synthesizeDataset: rendering videos needs a worker (or pass videos: false)");
    const specs = plan.items.map((it) => it.video);
    const chunk = Math.max(1, opts.chunk ?? 50);
    const chunks: VideoSpec[][] = [];
    for (let i = 0; i < specs.length; i += chunk) chunks.push(specs.slice(i, i + chunk));
    const doneIn = new Array<number>(chunks.length).fill(0);
    const report = () => onProgress?.({ stage: "videos", done: doneIn.reduce((a, b) => a + b, 0), total: specs.length });
    videos = { rendered: 0, skipped: 0, bytes: 0 };
    let next = 0;
    const runOne = async (): Promise<void> => {
      while (next < chunks.length) {
        const k = next++;
        const r = await worker.call(
          "render_videos",
          {
            videos_dir: files.videos,
            covers_dir: files.covers,
            specs: chunks[k]!,
            width: options.width,
            height: options.height,
            fps: options.fps,
            codec: options.codec,
            overwrite: !sameOptions,
          },
          {
            onProgress: (p) => {
              doneIn[k] = p.done;
              report();
            },
          },
        );
        doneIn[k] = chunks[k]!.length;
        report();
        videos!.rendered += Number(r.result.rendered ?? 0);
        videos!.skipped += Number(r.result.skipped ?? 0);
        videos!.bytes += Number(r.result.bytes ?? 0);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel ?? 1, chunks.length)) }, runOne));
  }
  writeFileAtomic(files.truth, truth(true));
  const interactions = plan.users.reduce((s, u) => s + u.items.length, 0);
  return {
    dir,
    variant: v,
    files,
    counts: { users: plan.users.length, items: plan.items.length, interactions, coldItems: plan.items.filter((i) => i.cold).length, topics: plan.topics.length },
    videos,
    plan,
  };
}

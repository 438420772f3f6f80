// Run log and progress display: one redrawn line on a TTY, plain periodic lines otherwise, NDJSON
// events with --json. Stages report (done, total); the reporter derives items/s and ETA.

export type LogMode = "tty" | "plain" | "json";

export type RunEvent =
  | { event: "run_start"; run: string; config: string; stages: string[] }
  | { event: "stage_start"; stage: string; key: string; reason: string }
  | { event: "cache_hit"; stage: string; key: string; dir: string }
  | { event: "stage_skipped"; stage: string; reason: string }
  | { event: "progress"; stage: string; done: number; total: number | null; unit: string; message: string; rate: number | null; eta_s: number | null }
  | { event: "stage_done"; stage: string; key: string; dir: string; seconds: number }
  | { event: "stage_failed"; stage: string; key: string; error: string }
  | { event: "stage_interrupted"; stage: string; key: string; dir: string }
  | { event: "log"; stage?: string; message: string }
  | { event: "run_done"; run: string; seconds: number; results: string; failed_items?: number; failed_list?: string | null };

export interface ProgressUpdate {
  done: number;
  total: number | null;
  unit?: string;
  message?: string;
}

export interface ReporterOptions {
  mode: LogMode;
  /** where lines go (default: stderr for tty/plain, stdout for json) */
  write?: (text: string) => void;
  /** seconds between plain progress lines (default 10) */
  plainIntervalS?: number;
  /** clock, for tests of rate/ETA */
  now?: () => number;
}

/** Pick the log mode: --json wins, then whether stderr is a terminal. */
export function defaultLogMode(json: boolean): LogMode {
  if (json) return "json";
  return process.stderr.isTTY ? "tty" : "plain";
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export class Reporter {
  readonly mode: LogMode;
  readonly events: RunEvent[] = [];
  private readonly write: (text: string) => void;
  private readonly plainInterval: number;
  private readonly now: () => number;
  private stageStart = new Map<string, { t: number; done: number }>();
  private lastDraw = 0;
  private lastPlain = new Map<string, number>();
  private lastText = new Map<string, string>();
  private ttyLineOpen = false;

  constructor(opts: ReporterOptions) {
    this.mode = opts.mode;
    this.write =
      opts.write ?? (opts.mode === "json" ? (s) => process.stdout.write(s) : (s) => process.stderr.write(s));
    this.plainInterval = (opts.plainIntervalS ?? 10) * 1000;
    this.now = opts.now ?? (() => Date.now());
  }

  emit(ev: RunEvent): void {
    this.events.push(ev);
    if (this.mode === "json") {
      this.write(`${JSON.stringify({ t: new Date(this.now()).toISOString(), ...ev })}\n`);
      return;
    }
    const line = this.human(ev);
    if (line !== undefined) this.line(line);
  }

  log(message: string, stage?: string): void {
    this.emit(stage === undefined ? { event: "log", message } : { event: "log", stage, message });
  }

  /** A progress update from a stage (e.g. forwarded from the worker's progress messages). */
  progress(stage: string, p: ProgressUpdate): void {
    const t = this.now();
    const start = this.stageStart.get(stage) ?? { t, done: p.done };
    if (!this.stageStart.has(stage)) this.stageStart.set(stage, start);
    const elapsed = (t - start.t) / 1000;
    const rate = elapsed > 0.5 && p.done > start.done ? (p.done - start.done) / elapsed : null;
    const eta = rate && p.total !== null ? (p.total - p.done) / rate : null;
    const ev: RunEvent = {
      event: "progress",
      stage,
      done: p.done,
      total: p.total,
      unit: p.unit ?? "items",
      message: p.message ?? "",
      rate,
      eta_s: eta,
    };
    const finished = p.total !== null && p.done >= p.total;
    if (this.mode === "json") {
      this.emit(ev);
      return;
    }
    this.events.push(ev);
    const text = this.progressText(ev);
    if (this.lastText.get(stage) === text) return; // nothing new to show
    if (this.mode === "tty") {
      if (!finished && t - this.lastDraw < 100) return;
      this.lastDraw = t;
      this.lastText.set(stage, text);
      this.write(`\r\x1b[K${text}`);
      this.ttyLineOpen = true;
      if (finished) this.closeTtyLine();
    } else {
      const last = this.lastPlain.get(stage) ?? 0;
      if (!finished && t - last < this.plainInterval) return;
      this.lastPlain.set(stage, t);
      this.lastText.set(stage, text);
      this.write(`${text}\n`);
    }
  }

  private progressText(ev: Extract<RunEvent, { event: "progress" }>): string {
    const total = ev.total === null ? "" : `/${ev.total}`;
    const pct = ev.total ? ` (${Math.floor((100 * ev.done) / ev.total)}%)` : "";
    const rate = ev.rate === null ? "" : `, ${ev.rate >= 10 ? ev.rate.toFixed(0) : ev.rate.toFixed(2)} ${ev.unit}/s`;
    const eta = ev.eta_s === null ? "" : `, ETA ${formatDuration(ev.eta_s)}`;
    const msg = ev.message && ev.message !== ev.unit ? ` ${ev.message}` : "";
    return `  ${ev.stage}: ${ev.done}${total} ${ev.unit}${pct}${rate}${eta}${msg}`;
  }

  private closeTtyLine(): void {
    if (this.ttyLineOpen) this.write("\n");
    this.ttyLineOpen = false;
  }

  private line(text: string): void {
    this.closeTtyLine();
    this.write(`${text}\n`);
  }

  private human(ev: RunEvent): string | undefined {
    switch (ev.event) {
      case "run_start":
        return `run ${ev.run} (${ev.config}): ${ev.stages.join(" → ")}`;
      case "stage_start":
        return `[${ev.stage}] running (${ev.reason}) key ${ev.key}`;
      case "cache_hit":
        return `[${ev.stage}] cache hit ${ev.key}`;
      case "stage_skipped":
        return `[${ev.stage}] skipped: ${ev.reason}`;
      case "stage_done":
        return `[${ev.stage}] done in ${formatDuration(ev.seconds)} → ${ev.dir}`;
      case "stage_failed":
        return `[${ev.stage}] FAILED: ${ev.error}`;
      case "stage_interrupted":
        return `[${ev.stage}] interrupted; its partial work stays in ${ev.dir}`;
      case "log":
        return ev.stage ? `[${ev.stage}] ${ev.message}` : ev.message;
      case "run_done":
        return `run ${ev.run} finished in ${formatDuration(ev.seconds)}; results in ${ev.results}${
          ev.failed_items ? `; ${ev.failed_items} video(s) failed extraction, listed in ${ev.failed_list ?? "the TokenStore manifest"}` : ""
        }`;
      default:
        return undefined;
    }
  }
}

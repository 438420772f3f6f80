// `lo-exp config show`: the resolved config as text.
import { configToYaml, loadConfig } from "./index.js";

export interface ShowConfigOptions {
  sets?: readonly string[];
  /** annotate each value with file:line:col / --set / default */
  sources?: boolean;
  json?: boolean;
  cwd?: string;
  /** told each path that does not exist (yet): the config is shown anyway; `lo-exp run` would stop there */
  onPathProblem?: (line: string) => void;
}

export async function showConfig(path: string, opts: ShowConfigOptions = {}): Promise<string> {
  const loaded = await loadConfig(path, { sets: opts.sets ?? [], cwd: opts.cwd ?? process.cwd(), checkPaths: "report" });
  for (const line of loaded.pathProblems ?? []) opts.onPathProblem?.(line);
  if (opts.json) return `${JSON.stringify(loaded.config, null, 2)}\n`;
  return configToYaml(loaded, { sources: opts.sources ?? false, cwd: opts.cwd ?? process.cwd() });
}

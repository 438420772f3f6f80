import { expect } from "chai";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Dependencies between the folders of ts/ go one way (docs/architecture.md, "Rooms"): CLI → library →
// protocol. Every static, re-export and dynamic import with a relative specifier is read from the
// source and mapped to the folder it lands in; each folder may import only its row of MAY_IMPORT.
const TS = fileURLToPath(new URL("../ts/", import.meta.url));

// The rooms, top (the CLI) to bottom (the worker protocol, helpers). Keep docs/architecture.md in step.
const MAY_IMPORT: Record<string, readonly string[]> = {
  cli: ["bench", "config", "data", "metrics", "schedule", "serve", "util", "worker"], // thin verbs over everything
  bench: ["config", "data", "metrics", "schedule", "serve", "util", "worker"], // benchmarks call product functions
  schedule: ["config", "data", "metrics", "util", "worker"], // the stage graph
  serve: ["config", "data", "util", "worker"], // HTTP ranking front
  metrics: ["data", "util"],
  data: ["util"],
  config: ["util"],
  worker: ["util"], // the Python worker client and the wire protocol
  util: [],
};

type Graph = Map<string, Map<string, string[]>>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;

/** {importing folder: {imported folder: [files]}} under `root`, imports of other folders only. */
function folderImports(root: string = TS): Graph {
  const graph: Graph = new Map();
  for (const file of tsFiles(root)) {
    const from = relative(root, file).split("/")[0]!;
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const to = relative(root, resolve(dirname(file), m[1]!)).split("/")[0]!;
      if (to === from || to.startsWith("..")) continue;
      const row = graph.get(from) ?? new Map<string, string[]>();
      row.set(to, [...(row.get(to) ?? []), relative(root, file)]);
      graph.set(from, row);
    }
  }
  return graph;
}

/** Each cycle met by a depth-first walk, as `a → b → a`. */
function findCycles(graph: Graph): string[] {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]): void => {
    state.set(node, "open");
    for (const next of [...(graph.get(node)?.keys() ?? [])].sort()) {
      const ring = [...path, node];
      if (state.get(next) === "open") cycles.push([...ring.slice(ring.indexOf(next)), next].join(" → "));
      else if (!state.has(next)) visit(next, ring);
    }
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node, []);
  return cycles;
}

describe("import graph of ts/ folders", () => {
  it("every folder has a row", () => {
    const folders = readdirSync(TS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.sort()).to.deep.equal(Object.keys(MAY_IMPORT).sort());
  });

  it("each folder imports only what its row allows (no library module imports ts/cli)", () => {
    const bad: string[] = [];
    for (const [from, row] of folderImports()) {
      for (const [to, files] of row) if (!MAY_IMPORT[from]?.includes(to)) bad.push(`${from} → ${to} (${[...new Set(files)].join(", ")})`);
    }
    expect(bad).to.deep.equal([]);
  });

  it("has no cycles between folders", () => {
    expect(findCycles(folderImports())).to.deep.equal([]);
  });

  it("sees static, re-export and dynamic imports", () => {
    const root = mkdtempSync(join(tmpdir(), "lo-imports-"));
    try {
      const put = (rel: string, text: string) => {
        mkdirSync(dirname(join(root, rel)), { recursive: true });
        writeFileSync(join(root, rel), text);
      };
      put("a/x.ts", 'import { y } from "../b/y.js";\nexport { y };\n');
      put("b/y.ts", 'export { z } from "../c/z.js";\nexport const y = 1;\n');
      put("c/z.ts", 'export const z = 1;\nexport const load = () => import("../a/x.js");\n');
      const graph = folderImports(root);
      expect([...graph].map(([k, v]) => [k, [...v.keys()]])).to.deep.equal([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]);
      expect(findCycles(graph)).to.deep.equal(["a → b → c → a"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

import { expect } from "chai";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ARCHITECTURE_FILE, loadRooms, mayImport, withRoomTables } from "../scripts/gen-rooms.js";

// Dependencies between the folders of ts/ go one way (docs/architecture.md, "Rooms"): CLI → library →
// protocol. Every static, re-export and dynamic import with a relative specifier is read from the
// source; each folder may import only its row of docs/rooms.json (the one place the rules are written),
// and neither the folders nor the files import each other in a circle.
const TS = fileURLToPath(new URL("../ts/", import.meta.url));
const MAY_IMPORT = mayImport(loadRooms().typescript);

type Graph = Map<string, Map<string, string[]>>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const STATIC = /(?:\bfrom\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;
const DYNAMIC = /\bimport\s*\(\s*([^)]*?)\s*\)/g;

/** The relative specifiers a file imports, and its dynamic imports whose path is computed (invisible to this check). */
function importsOf(text: string): { specifiers: string[]; computed: string[] } {
  const specifiers = [...text.matchAll(STATIC)].map((m) => m[1]!);
  const computed: string[] = [];
  for (const m of text.matchAll(DYNAMIC)) {
    const arg = m[1]!;
    const literal = /^"([^"]*)"$|^'([^']*)'$|^`([^`$]*)`$/.exec(arg);
    if (literal) {
      const path = literal[1] ?? literal[2] ?? literal[3]!;
      if (path.startsWith("./") || path.startsWith("../")) specifiers.push(path);
    } else if (arg !== "") computed.push(m[0]);
  }
  return { specifiers, computed };
}

/** {importing file: [imported files]} under `root` (paths relative to it), and every computed dynamic import. */
function fileImports(root: string = TS): { graph: Map<string, string[]>; computed: string[] } {
  const graph = new Map<string, string[]>();
  const computed: string[] = [];
  for (const file of tsFiles(root)) {
    const { specifiers, computed: c } = importsOf(readFileSync(file, "utf8"));
    graph.set(relative(root, file), specifiers.map((s) => relative(root, resolve(dirname(file), s.replace(/\.js$/, ".ts")))));
    computed.push(...c.map((x) => `${relative(root, file)}: ${x}`));
  }
  return { graph, computed };
}

/** {importing folder: {imported folder: [files]}} under `root`, imports of other folders only. */
function folderImports(root: string = TS): Graph {
  const graph: Graph = new Map();
  for (const [file, targets] of fileImports(root).graph) {
    const from = file.split("/")[0]!;
    for (const target of targets) {
      const to = target.split("/")[0]!;
      if (to === from || to.startsWith("..")) continue;
      const row = graph.get(from) ?? new Map<string, string[]>();
      row.set(to, [...(row.get(to) ?? []), file]);
      graph.set(from, row);
    }
  }
  return graph;
}

/** Each cycle met by a depth-first walk, as `a → b → a`. */
function findCycles(edges: Map<string, Iterable<string>>): string[] {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]): void => {
    state.set(node, "open");
    for (const next of [...new Set(edges.get(node) ?? [])].sort()) {
      const ring = [...path, node];
      if (state.get(next) === "open") cycles.push([...ring.slice(ring.indexOf(next)), next].join(" → "));
      else if (!state.has(next)) visit(next, ring);
    }
    state.set(node, "done");
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node, []);
  return cycles;
}

const folderEdges = (g: Graph) => new Map([...g].map(([k, v]) => [k, [...v.keys()]]));

/** Write `files` (path → text) under a fresh temporary folder, run `f` on it, remove it. */
function withTree<T>(files: Record<string, string>, f: (root: string) => T): T {
  const root = mkdtempSync(join(tmpdir(), "lo-imports-"));
  try {
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), text);
    }
    return f(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe("import graph of ts/ folders", () => {
  it("every folder has a row in docs/rooms.json", () => {
    const folders = readdirSync(TS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.sort()).to.deep.equal([...MAY_IMPORT.keys()].sort());
  });

  it("each folder imports only what its row allows (no library module imports ts/cli)", () => {
    const bad: string[] = [];
    for (const [from, row] of folderImports()) {
      for (const [to, files] of row) if (!MAY_IMPORT.get(from)?.includes(to)) bad.push(`${from} → ${to} (${[...new Set(files)].join(", ")})`);
    }
    expect(bad).to.deep.equal([]);
  });

  it("has no cycles between folders", () => {
    expect(findCycles(folderEdges(folderImports()))).to.deep.equal([]);
  });

  it("has no cycles between files, inside a folder or across", () => {
    expect(findCycles(fileImports().graph)).to.deep.equal([]);
  });

  it("every dynamic import() names its path literally (a computed one would be invisible here)", () => {
    expect(fileImports().computed).to.deep.equal([]);
  });

  it("the room tables of docs/architecture.md are generated from docs/rooms.json (else run `npm run gen:rooms`)", () => {
    const doc = readFileSync(ARCHITECTURE_FILE, "utf8");
    expect(doc === withRoomTables(doc), "docs/architecture.md's room tables differ: run `npm run gen:rooms`").to.equal(true);
  });

  describe("the check itself, on planted trees", () => {
    it("sees static, re-export and dynamic imports", () => {
      withTree(
        {
          "a/x.ts": 'import { y } from "../b/y.js";\nexport { y };\n',
          "b/y.ts": 'export { z } from "../c/z.js";\nexport const y = 1;\n',
          "c/z.ts": 'export const z = 1;\nexport const load = () => import("../a/x.js");\n',
        },
        (root) => {
          const graph = folderImports(root);
          expect([...graph].map(([k, v]) => [k, [...v.keys()]])).to.deep.equal([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]);
          expect(findCycles(folderEdges(graph))).to.deep.equal(["a → b → c → a"]);
        },
      );
    });

    it("catches a cycle between two files of one folder, which the folder graph cannot see", () => {
      withTree(
        {
          "a/x.ts": 'import { y } from "./y.js";\nexport const x = () => y;\n',
          "a/y.ts": 'import { x } from "./x.js";\nexport const y = () => x;\n',
          "b/z.ts": 'import { x } from "../a/x.js";\nexport const z = x;\n',
        },
        (root) => {
          expect(findCycles(folderEdges(folderImports(root)))).to.deep.equal([]);
          expect(findCycles(fileImports(root).graph)).to.deep.equal(["a/x.ts → a/y.ts → a/x.ts"]);
        },
      );
    });

    it("follows a dynamic import() across lines and in backquotes, and reports one with a computed path", () => {
      withTree(
        {
          "a/x.ts": 'export const load = async () => (await import(\n  `../b/y.js`\n)).y;\n',
          "b/y.ts": 'export const y = 1;\nexport const back = () => import("../a/x.js");\nexport const any = (n: string) => import(`../a/${n}.js`);\n',
        },
        (root) => {
          const { graph, computed } = fileImports(root);
          expect(findCycles(graph)).to.deep.equal(["a/x.ts → b/y.ts → a/x.ts"]);
          expect(computed).to.deep.equal(["b/y.ts: import(`../a/${n}.js`)"]);
        },
      );
    });
  });
});

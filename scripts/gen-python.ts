// Python types of the config sections and of every worker op's args, generated from the JSON Schemas:
//   schemas/config/<section>.schema.json       → py/linkedout/config/generated.py  (<Section>Section)
//   schemas/protocol/ops/<op>.args.schema.json → py/linkedout/protocol/op_args.py  (<Op>Args)
// Frozen keyword-only dataclasses whose fields, types (Literal for an enum, tuples for arrays, `X | None`
// for a nullable or optional key) and defaults are the schema's. A config section leaves out its
// `x-scheduler-only` keys (the worker never gets them). `npm run gen:config` writes both files;
// test/config/generated.test.ts fails when a committed file differs from what the schemas generate.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { opSchemas, pascal } from "./gen-ops.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const PY_CONFIG_FILE = join(ROOT, "py", "linkedout", "config", "generated.py");
export const PY_OPS_FILE = join(ROOT, "py", "linkedout", "protocol", "op_args.py");

type Node = { [key: string]: unknown };
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON value as a Python literal (lists as tuples: dataclass defaults are immutable). */
function pyLiteral(v: unknown): string {
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return v.length === 1 ? `(${pyLiteral(v[0])},)` : `(${v.map(pyLiteral).join(", ")})`;
  if (isNode(v)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(", ")}}`;
  throw new Error(`no Python literal for ${String(v)}`);
}

const SCALAR: Record<string, string> = { string: "str", integer: "int", number: "float", boolean: "bool" };

/** One line of a schema description, as a comment. */
const comment = (node: Node, indent: string) =>
  typeof node.description === "string" ? [`${indent}# ${node.description.replace(/\s+/g, " ").trim()}`] : [];

class PyModule {
  readonly classes: string[] = [];
  readonly imports = new Set<string>();
  /** names declared as dataclasses (not Literal aliases) */
  readonly dataclasses = new Set<string>();

  /**
   * The Python type of a schema node. Objects with their own keys (and no others) become a dataclass
   * named `name`; open objects are `dict[str, Any]`.
   */
  typeOf(node: Node, name: string, skip: (key: string, prop: Node) => boolean = () => false): string {
    if (typeof node.$ref === "string") {
      const section = /config\/([a-z_]+)\.schema\.json$/.exec(node.$ref)?.[1];
      if (!section) throw new Error(`${name}: unsupported $ref ${node.$ref}`);
      this.imports.add(`from linkedout.config.generated import ${pascal(section)}Section`);
      return `${pascal(section)}Section`;
    }
    if (Array.isArray(node.enum)) {
      // a named alias per enum key, e.g. RecommenderRankerNorm = Literal["pre", "post"]
      this.classes.push(`${name} = Literal[${node.enum.map(pyLiteral).join(", ")}]`);
      return name;
    }
    const types = Array.isArray(node.type) ? (node.type as string[]) : typeof node.type === "string" ? [node.type] : [];
    const nullable = types.includes("null");
    const base = types.filter((t) => t !== "null");
    let py: string;
    if (base.length === 0) py = "Any";
    else if (base.length > 1) py = base.map((t) => SCALAR[t] ?? "Any").join(" | ");
    else if (base[0] === "array") py = `tuple[${isNode(node.items) ? this.typeOf(node.items, `${name}Item`) : "Any"}, ...]`;
    else if (base[0] === "object") py = isNode(node.properties) && node.additionalProperties === false ? this.dataclass(node, name, skip) : "dict[str, Any]";
    else py = SCALAR[base[0]!] ?? "Any";
    return nullable && py !== "Any" ? `${py} | None` : py;
  }

  /** Declare a dataclass for an object node (its nested classes first); returns its name. */
  dataclass(node: Node, name: string, skip: (key: string, prop: Node) => boolean = () => false, root = false): string {
    const props = Object.entries(node.properties as Record<string, Node>).filter(([k, p]) => !skip(k, p));
    const required = new Set((node.required as string[] | undefined) ?? []);
    const lines = ["@dataclass(frozen=True, kw_only=True)", `class ${name}:`];
    const title = typeof node.title === "string" ? node.title : typeof node.description === "string" ? node.description : "";
    lines.push(`    """${(title || name).replace(/\s+/g, " ").replace(/"""/g, "'''").trim()}"""`, "");
    for (const [key, prop] of props) {
      const type = this.typeOf(prop, `${name.replace(/(Args|Section)$/, "")}${pascal(key)}`);
      const isClass = this.dataclasses.has(type);
      let decl: string;
      if ("default" in prop) {
        if (isClass) decl = `${key}: ${type} = field(default_factory=${type})`;
        else if (isNode(prop.default)) decl = `${key}: ${type} = field(default_factory=lambda: ${pyLiteral(prop.default)})`;
        else if (prop.type === "number" && Number.isInteger(prop.default)) decl = `${key}: ${type} = ${pyLiteral(prop.default)}.0`; // a float field's default is a float
        else decl = `${key}: ${type} = ${pyLiteral(prop.default)}`;
      } else if (required.has(key)) {
        decl = `${key}: ${type}`;
      } else {
        decl = `${key}: ${type.endsWith("| None") || type === "Any" ? type : `${type} | None`} = None`;
      }
      lines.push(...comment(prop, "    "), `    ${decl}`);
    }
    if (props.length === 0) lines.push("    pass");
    if (root) {
      lines.push(
        "",
        "    @classmethod",
        `    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:`,
        `        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""`,
        "        return from_dict(cls, data, path)",
      );
    }
    this.classes.push(lines.join("\n"));
    this.dataclasses.add(name);
    return name;
  }

  text(banner: string[], doc: string): string {
    const imports = [
      "from __future__ import annotations",
      "",
      "from dataclasses import dataclass, field",
      "from typing import Any, Literal, Mapping, TypeVar",
      "",
      "from linkedout.config.typed import from_dict",
      ...[...this.imports].sort(),
      "",
      '_T = TypeVar("_T")',
    ];
    return [...banner, `"""${doc}"""`, "", ...imports, "", "", this.classes.join("\n\n\n"), ""].join("\n");
  }
}

const banner = (generator: string, from: string) => [
  `# generated, do not edit: \`npm run gen:config\` (${generator}) writes this file from`,
  `# ${from}; change the schema, then regenerate.`,
  "# ruff: noqa",
];

/** py/linkedout/config/generated.py: one dataclass per config section, less its scheduler-only keys. */
export function generatePythonConfig(schemaDir: string): string {
  const mod = new PyModule();
  const dir = join(schemaDir, "config");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".schema.json")).sort()) {
    const section = file.slice(0, -".schema.json".length);
    const schema = JSON.parse(readFileSync(join(dir, file), "utf8")) as Node;
    mod.dataclass(schema, `${pascal(section)}Section`, (_k, p) => p["x-scheduler-only"] === true, true);
  }
  return mod.text(
    banner("scripts/gen-python.ts", "schemas/config/<section>.schema.json"),
    "The config sections as Python sees them: fields, types and defaults from schemas/config/ (less the\n`x-scheduler-only` keys only the TypeScript scheduler reads). Modules add their own checks by subclassing.",
  );
}

/** py/linkedout/protocol/op_args.py: one dataclass per op's args. */
export function generatePythonOpArgs(schemaDir: string): string {
  const mod = new PyModule();
  for (const [op, schema] of opSchemas(schemaDir)) mod.dataclass(schema, `${pascal(op)}Args`, () => false, true);
  return mod.text(
    banner("scripts/gen-python.ts", "schemas/protocol/ops/<op>.args.schema.json"),
    "Each worker op's args as a dataclass: fields, types and defaults from schemas/protocol/ops/.\n\nThe worker validates args against the schema before a handler runs; `<Op>Args.from_json(args, \"args\")`\nthen gives the handler typed values with the schema's defaults filled in.",
  );
}

import { expect } from "chai";
import { readFileSync } from "node:fs";
import { configDefaults } from "../../ts/config/index.js";
import { resolveSynthOptions, SYNTH_PRESETS } from "../../ts/data/index.js";
import { REPO_ROOT } from "../helpers.js";

// dataset.synthetic's defaults and preset sizes are written once, in the schema; ts/data/synth.ts reads them.
const synthetic = (
  JSON.parse(readFileSync(`${REPO_ROOT}/schemas/config/dataset.schema.json`, "utf8")) as {
    properties: { synthetic: { properties: Record<string, { default: unknown; enum?: string[]; "x-presets"?: Record<string, Record<string, number>> }> } };
  }
).properties.synthetic.properties;

describe("data/synth: defaults and presets come from schemas/config/dataset.schema.json", () => {
  it("an empty option set resolves to the schema's defaults and its default preset's sizes", () => {
    const sizes = synthetic.preset!["x-presets"]![synthetic.preset!.default as string]!;
    expect(resolveSynthOptions({})).to.deep.equal({
      users: sizes.users,
      items: sizes.items,
      topics: sizes.topics,
      seed: synthetic.seed!.default,
      coldShare: synthetic.cold_share!.default,
      width: synthetic.width!.default,
      height: synthetic.height!.default,
      fps: synthetic.fps!.default,
      codec: synthetic.codec!.default,
    });
  });

  it("every preset the schema allows has sizes, and a preset resolves to them", () => {
    expect(Object.keys(synthetic.preset!["x-presets"]!)).to.have.members(synthetic.preset!.enum!);
    expect(Object.keys(SYNTH_PRESETS)).to.have.members(synthetic.preset!.enum!);
    for (const name of synthetic.preset!.enum!) {
      const { users, items, topics } = resolveSynthOptions({ preset: name as keyof typeof SYNTH_PRESETS });
      expect({ users, items, topics }, name).to.deep.equal(synthetic.preset!["x-presets"]![name]);
    }
  });

  it("a config's resolved dataset.synthetic and the library's defaults agree", () => {
    const s = configDefaults().dataset.synthetic;
    const fromConfig = resolveSynthOptions({ preset: s.preset, users: s.users, items: s.items, topics: s.topics, seed: s.seed, coldShare: s.cold_share, width: s.width, height: s.height, fps: s.fps, codec: s.codec });
    expect(fromConfig).to.deep.equal(resolveSynthOptions({}));
  });
});

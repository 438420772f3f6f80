// The shipped configs and experiment tables load against the real schemas, and say what they claim.
import { expect } from "chai";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { loadConfig } from "../../ts/config/index.js";
import { planKeys } from "../../ts/schedule/graph.js";
import { pipelineStages } from "../../ts/schedule/pipeline.js";
import { loadTableSpec } from "../../ts/schedule/table.js";
import { REPO_ROOT } from "../helpers.js";


function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(dir, f))
    .sort();
}

describe("shipped configs (configs/, experiments/)", () => {
  const configs = yamlFiles(join(REPO_ROOT, "configs"));

  it("every config validates; names are unique", async () => {
    const names = new Map<string, string>();
    for (const f of configs) {
      // MicroLens folders are not in the repository: check everything but their existence
      const { config } = await loadConfig(f, { cwd: REPO_ROOT, checkPaths: !f.includes("microlens") });
      const rel = relative(REPO_ROOT, f);
      expect(names.has(config.name), `${rel}: name ${config.name} also in ${names.get(config.name)}`).to.equal(false);
      names.set(config.name, rel);
    }
    expect(names.size).to.equal(configs.length);
  });

  it("the MicroLens configs carry the paper's setup and point at data/MicroLens-<variant>", async () => {
    const { config } = await loadConfig(join(REPO_ROOT, "configs/microlens-100k/linkedout.yaml"), { cwd: REPO_ROOT, checkPaths: false });
    expect(config.model.path).to.equal("llava-hf/llava-onevision-qwen2-7b-ov-hf");
    expect(config.dataset.dir).to.equal(join(REPO_ROOT, "data/MicroLens-100k"));
    expect(config.extract.taps).to.deep.equal([0, 4, 8, 12, 16, 20]); // the paper's Fig. 4/5 layers
    expect(config.train).to.deep.include({ epochs: 100, batch_size: 256, weight_decay: 0.1, grad_clip: 5 });
    expect(config.train.lr).to.deep.equal({ item_encoder: 1e-4, id_embeddings: 1e-4, ranker: 1e-5 });
    // without the data the path check names the missing folder
    let message = "";
    try {
      await loadConfig(join(REPO_ROOT, "configs/microlens-100k/linkedout.yaml"), { cwd: REPO_ROOT });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.equal("configs/microlens-100k/linkedout.yaml:12:8 dataset.dir: directory not found: data/MicroLens-100k");
  });

  it("the Table 4 ablations share the extraction key and differ in training", async () => {
    const rows = ["linkedout", "ablation-last-token", "ablation-mean-pool", "ablation-last-layer-last-token"];
    const keys = await Promise.all(
      rows.map(async (r) => planKeys(pipelineStages(), (await loadConfig(join(REPO_ROOT, `configs/${r}.yaml`), { cwd: REPO_ROOT })).config)),
    );
    expect(new Set(keys.map((k) => k.get("extract"))).size).to.equal(1);
    expect(new Set(keys.map((k) => k.get("train"))).size).to.equal(4);
    const id = await planKeys(pipelineStages(), (await loadConfig(join(REPO_ROOT, "configs/sasrec-id.yaml"), { cwd: REPO_ROOT })).config);
    expect(id.get("extract")).to.equal(undefined); // ID-only: no extraction at all
    expect(id.get("split")).to.equal(keys[0]!.get("split"));
  });

  it("the synthetic ID baselines train with the ID-baseline recipe; LinkedOut keeps the paper's", async () => {
    const recipe = { negatives: "full", weight_decay: 0 };
    const loss = { align_weight: 0, uniformity_gamma: 0, popularity_correction: false, exclude_user_items: true };
    for (const name of ["sasrec-id", "gru4rec-id", "nextitnet-id"]) {
      const { config } = await loadConfig(join(REPO_ROOT, `configs/${name}.yaml`), { cwd: REPO_ROOT });
      expect(config.train, name).to.deep.include({ ...recipe, loss });
    }
    const { config } = await loadConfig(join(REPO_ROOT, "configs/linkedout.yaml"), { cwd: REPO_ROOT });
    expect(config.train).to.deep.include({ negatives: "in_batch", weight_decay: 0.1 });
  });

  it("every experiment table loads; the paper numbers are the published ones", () => {
    const tables = yamlFiles(join(REPO_ROOT, "experiments")).map((f) => loadTableSpec(f, REPO_ROOT));
    expect(tables.map((t) => t.name).sort()).to.deep.equal(["microlens-100k-table3", "microlens-100k-table4", "table2", "table3", "table4"]);
    const t4 = tables.find((t) => t.name === "table4")!;
    expect(t4.rows).to.have.length(4);
    expect(t4.rows.map((r) => r.paper![0])).to.deep.equal([0.0763, 0.0888, 0.0958, 0.1015]);
    const t3 = tables.find((t) => t.name === "table3")!;
    expect(t3.rows.find((r) => r.label === "SASRec")!.paper).to.deep.equal([0.0909, 0.0517, 0.1278, 0.061]);
    const t2 = tables.find((t) => t.name === "table2")!;
    expect(t2.columns).to.deep.equal(["hr@10", "hr@20", "ndcg@10", "ndcg@20"]);
    expect(t2.rows[0]!.paper).to.deep.equal([0.0761, 0.1127, 0.0399, 0.0491]);
  });
});

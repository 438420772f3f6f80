import { expect } from "chai";
import { configDefaults } from "../../ts/config/index.js";
import { trainStage } from "../../ts/schedule/stages/train.js";

// The train stage's key holds what changes a trained model; where its features are held
// (train.feature_cache) gives the same run bitwise (py/tests/train/test_feature_cache.py), so it does not.
describe("train stage key", () => {
  const base = configDefaults();
  const keyOf = async (train: Partial<typeof base.train>) => JSON.stringify(await trainStage.keyParts({ ...base, train: { ...base.train, ...train } }));

  it("is the same whatever train.feature_cache and its share say", async () => {
    const key = await keyOf({});
    expect(await keyOf({ feature_cache: "off" })).to.equal(key);
    expect(await keyOf({ feature_cache: "device", feature_cache_share: 0.9 })).to.equal(key);
  });

  it("changes with the metric that picks the kept epoch", async () => {
    expect(await keyOf({ select_metric: "ndcg@20" })).to.not.equal(await keyOf({}));
  });
});

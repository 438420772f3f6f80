import { expect } from "chai";
import { createHash } from "node:crypto";
import { shardIds, shardOf } from "../../ts/data/index.js";

describe("data/shard: deterministic id sharding", () => {
  const ids = Array.from({ length: 1000 }, (_, i) => String(i + 1));

  it("assigns by sha256(id) mod n, independent of input order", () => {
    // hand check for one id: first 8 bytes of sha256("42") as an unsigned big-endian integer, mod 7
    const d = createHash("sha256").update("42").digest();
    expect(shardOf("42", 7)).to.equal(Number(d.readBigUInt64BE(0) % 7n));
    const a = shardIds(ids, 4);
    const b = shardIds([...ids].reverse(), 4);
    expect(a).to.deep.equal(b);
    expect(a.map((m) => m.shard)).to.deep.equal([0, 1, 2, 3]);
    expect(a.reduce((s, m) => s + m.count, 0)).to.equal(1000);
    for (const m of a) {
      expect(m.count).to.equal(m.ids.length);
      expect(m.count).to.be.within(200, 300); // roughly balanced
      for (const id of m.ids) expect(shardOf(id, 4)).to.equal(m.shard);
      expect(m.ids).to.deep.equal([...m.ids].sort()); // ids in byte order ("10" < "2")
    }
  });

  it("adding ids moves no existing id, and only the shards that gained ids change hash", () => {
    const before = shardIds(ids, 5);
    const more = [...ids, "new-1", "new-2", "new-3"];
    const after = shardIds(more, 5);
    const gained = new Set(["new-1", "new-2", "new-3"].map((id) => shardOf(id, 5)));
    for (let s = 0; s < 5; s++) {
      expect(after[s]!.ids.filter((id) => !id.startsWith("new-"))).to.deep.equal(before[s]!.ids);
      if (gained.has(s)) expect(after[s]!.hash).to.not.equal(before[s]!.hash);
      else expect(after[s]!.hash).to.equal(before[s]!.hash);
    }
  });

  it("the manifest hash covers content digests when given", () => {
    const plain = shardIds(ids, 2);
    const withContent = shardIds(ids, 2, { contentOf: (id) => (id === "7" ? "v2" : "v1") });
    const again = shardIds(ids, 2, { contentOf: (id) => (id === "7" ? "v2" : "v1") });
    const s7 = shardOf("7", 2);
    expect(withContent).to.deep.equal(again);
    expect(withContent[s7]!.hash).to.not.equal(plain[s7]!.hash);
    const changed = shardIds(ids, 2, { contentOf: (id) => (id === "7" ? "v3" : "v1") });
    expect(changed[s7]!.hash).to.not.equal(withContent[s7]!.hash);
    expect(changed[1 - s7]!.hash).to.equal(withContent[1 - s7]!.hash);
  });

  it("rejects duplicate ids and bad shard counts; empty shards are listed", () => {
    expect(() => shardIds(["a", "b", "a"], 2)).to.throw(/duplicate id 'a'/);
    expect(() => shardIds(ids, 0)).to.throw(RangeError);
    expect(() => shardOf("x", 1.5)).to.throw(RangeError);
    const m = shardIds(["only"], 3);
    expect(m.map((x) => x.count).sort()).to.deep.equal([0, 0, 1]);
  });
});

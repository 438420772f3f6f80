import { expect } from "chai";
import { decodeUtf8Strict, findUtf8Fault } from "../../ts/util/text.js";

describe("util/text: strict UTF-8", () => {
  it("finds the first bad sequence exactly where the WHATWG fatal decoder stops (random buffers, overlongs, surrogates)", () => {
    const fatal = new TextDecoder("utf-8", { fatal: true });
    const cases: number[][] = [
      [0x75, 0xfe],
      [0x61, 0x0a, 0x62, 0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // surrogate
      [0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
      [0xe2, 0x82], // truncated at end
      [0xe2, 0x82, 0xac, 0x0a, 0x0a, 0xff],
    ];
    let seed = 7;
    for (let n = 0; n < 400; n++) {
      const len = 1 + (n % 9);
      const b: number[] = [];
      for (let i = 0; i < len; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        b.push(seed % 3 === 0 ? 0x0a : 0x80 + (seed % 0x80));
      }
      cases.push(b);
    }
    for (const c of cases) {
      const buf = Uint8Array.from(c);
      const fault = findUtf8Fault(buf);
      let valid = true;
      try {
        fatal.decode(buf);
      } catch {
        valid = false;
      }
      expect(fault === null, JSON.stringify(c)).to.equal(valid);
      if (fault) {
        // The prefix before the fault decodes; the fault's line counts the newlines before it.
        expect(() => fatal.decode(buf.subarray(0, fault.offset)), JSON.stringify(c)).to.not.throw();
        expect(fault.line).to.equal(1 + c.slice(0, fault.offset).filter((x) => x === 0x0a).length);
      }
    }
  });

  it("decodeUtf8Strict names the path, line and offset", () => {
    expect(() => decodeUtf8Strict(Uint8Array.from([0x61, 0x0a, 0x75, 0xff]), "/d/f.csv")).to.throw(/^\/d\/f\.csv:2: not UTF-8: byte 0xff at byte offset 3 /);
    expect(decodeUtf8Strict(Buffer.from("ü,é\n"), "x")).to.equal("ü,é\n");
  });
});

// Item and user ids are compared by their UTF-8 bytes everywhere (the catalogue order of items.arrow,
// the order of rows in the split files, ids inside a shard). Python's sorted() on str agrees with this.

/** Byte-wise (UTF-8) comparison of two ids: negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  // UTF-16 code-unit order equals UTF-8 byte order unless a surrogate pair meets a char in U+E000..U+FFFF.
  if (!/[\ud800-\uffff]/.test(a) && !/[\ud800-\uffff]/.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** A new array of the ids in byte order. */
export function sortIds(ids: Iterable<string>): string[] {
  return [...ids].sort(compareIds);
}

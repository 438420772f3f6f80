/** Bad dataset input: one line naming the file (and line, row or field) and the problem. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

/** A serving request the user can fix (bad run folder, video argument, port): one line naming what is wrong. */
export class ServeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ServeError";
  }
}

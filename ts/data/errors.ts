import { CliError } from "../cli/command.js";

/** Bad dataset input: one line naming the file (and line, row or field) and the problem. */
export class DataError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";

interface DoctorArgs {
  json: boolean;
  device: string;
}

/** `lo-exp doctor [--json]`: check Node, Python, packages, torch device and a worker round trip. */
export const doctorCommand: CliCommand<DoctorArgs> = {
  command: "doctor",
  describe: "Check this checkout: Node and Python versions, worker packages, torch device, one worker round trip",
  builder: (y: Argv) =>
    y
      .option("json", { type: "boolean", default: false, describe: "print the checks as JSON" })
      .option("device", { type: "string", default: "cpu", describe: "device for the test worker (cpu or cuda:N)" }) as unknown as Argv<DoctorArgs>,
  handler: async (args) => {
    const { formatDoctor, runDoctor } = await import("../../worker/doctor.js");
    const report = await runDoctor({ device: args.device });
    process.stdout.write(args.json ? JSON.stringify(report, null, 2) + "\n" : formatDoctor(report));
    if (!report.ok) throw new CliError("doctor: some checks failed", 1);
  },
};

// A job's GPUs come from its scheduler as an inherited CUDA_VISIBLE_DEVICES (SLURM, Kubernetes, Ray):
// `cuda:N` is the N-th entry of that list (indices or UUIDs), never the host's GPU N.
import { expect } from "chai";
import { torchrunEnv } from "../../ts/schedule/torchrun.js";
import { startWorker, WorkerError } from "../../ts/worker/index.js";
import { visibleDevices, workerLaunch } from "../../ts/worker/python.js";
import { rejection } from "./helpers.js";

const UUIDS = "GPU-1f3c0a9e-aaaa-4b5c-9d7e-000000000001,GPU-1f3c0a9e-bbbb-4b5c-9d7e-000000000002,GPU-1f3c0a9e-cccc-4b5c-9d7e-000000000003";

describe("an inherited CUDA_VISIBLE_DEVICES is mapped, not replaced (ts/worker/python, ts/schedule/torchrun)", function () {
  this.timeout(120_000);

  it("worker N gets the N-th entry of the inherited list: indices, UUIDs, spaces", () => {
    const uuids = UUIDS.split(",");
    expect(workerLaunch("cuda:0", 1, "4,6")!.env.CUDA_VISIBLE_DEVICES).to.equal("4");
    expect(workerLaunch("cuda:1", 1, "4,6")!.env.CUDA_VISIBLE_DEVICES).to.equal("6");
    expect(workerLaunch("cuda", 1, "4,6")!.env.CUDA_VISIBLE_DEVICES).to.equal("4");
    expect(workerLaunch("cuda:2", 1, UUIDS)!.env.CUDA_VISIBLE_DEVICES).to.equal(uuids[2]);
    expect(workerLaunch("cuda:1", 1, " 3, 5 ")!.env.CUDA_VISIBLE_DEVICES).to.equal("5");
    expect(workerLaunch("cuda:1", 1, "4,6")!.deviceArg).to.equal("cuda:0"); // the only GPU the worker sees
    expect(visibleDevices([2, 0], UUIDS)).to.equal(`${uuids[2]},${uuids[0]}`);
  });

  it("with nothing inherited, cuda:N is the host's GPU N; a CPU worker sees no GPU", () => {
    expect(workerLaunch("cuda:3", 1, undefined)!.env.CUDA_VISIBLE_DEVICES).to.equal("3");
    expect(workerLaunch("cpu", 1, "4,6")!.env.CUDA_VISIBLE_DEVICES).to.equal("");
    expect(workerLaunch("gpu0", 1, "4,6")).to.equal(null);
  });

  it("a GPU the job was not given is a one-line error naming the inherited list", () => {
    const beyond = (() => {
      try {
        workerLaunch("cuda:2", 1, "4,6");
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(beyond).to.be.instanceOf(WorkerError);
    expect((beyond as WorkerError).type).to.equal("DeviceInvalid");
    expect((beyond as WorkerError).message).to.equal('cuda:2: the inherited CUDA_VISIBLE_DEVICES="4,6" gives this job 2 GPU(s), cuda:0..cuda:1');
    expect(() => visibleDevices([0], "")).to.throw(WorkerError, 'cuda:0: the inherited CUDA_VISIBLE_DEVICES="" gives this job no GPU');
    expect(() => visibleDevices([0], "-1")).to.throw(WorkerError, "gives this job no GPU");
  });

  it("torchrun's ranks get the inherited GPUs they were given, in order", () => {
    const uuids = UUIDS.split(",");
    expect(torchrunEnv(["cuda:0", "cuda:1"], 2, "5,7,9")).to.deep.equal({ OMP_NUM_THREADS: "2", CUDA_VISIBLE_DEVICES: "5,7" });
    expect(torchrunEnv(["cuda:1", "cuda:2"], 1, UUIDS).CUDA_VISIBLE_DEVICES).to.equal(`${uuids[1]},${uuids[2]}`);
    expect(torchrunEnv(["cuda:0", "cuda:1"], 1, undefined).CUDA_VISIBLE_DEVICES).to.equal("0,1");
    expect(torchrunEnv(["cpu", "cpu"], 1, "5,7")).to.deep.equal({ OMP_NUM_THREADS: "1" });
    expect(() => torchrunEnv(["cuda:0", "cuda:1"], 1, "5")).to.throw(WorkerError, "cuda:1: the inherited");
  });

  it("a real worker process started as cuda:1 under an inherited list is pinned to the list's second GPU", async () => {
    const saved = process.env.CUDA_VISIBLE_DEVICES;
    process.env.CUDA_VISIBLE_DEVICES = UUIDS;
    try {
      // the UUIDs are made up, so no host has them: the worker stops, naming the CUDA_VISIBLE_DEVICES it got
      const e = await rejection(startWorker({ device: "cuda:1" }));
      expect(e.type).to.equal("StartFailed");
      expect(e.message).to.include(`CUDA_VISIBLE_DEVICES=${UUIDS.split(",")[1]},`);
      expect(e.message).to.match(/(built for CUDA \S+|has no CUDA build); (driver|nvidia-smi failed|no NVIDIA driver found)/); // torch's build, the driver
    } finally {
      if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
      else process.env.CUDA_VISIBLE_DEVICES = saved;
    }
  });
});

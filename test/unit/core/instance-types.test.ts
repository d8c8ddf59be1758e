import assert from "node:assert/strict";
import { GPU_FAMILIES, gpuFamily, instanceArchitecture, instanceFamily, windowsGpuTypeProblem } from "../../../core/instance-types.ts";

describe("core/instance-types", () => {
  it("knows the GPU families and their architecture", () => {
    assert.equal(instanceFamily("g4dn.2xlarge"), "g4dn");
    assert.deepEqual(gpuFamily("g5.xlarge"), { arch: "x86_64", gpu: "nvidia", model: "A10G" });
    assert.equal(gpuFamily("m5.xlarge"), undefined);
    assert.ok(Object.values(GPU_FAMILIES).some((f) => f.arch === "arm64"));
  });

  it("reads Graviton from EC2's naming for types outside the table", () => {
    for (const t of ["m7g.large", "c6gn.xlarge", "t4g.micro", "r8g.2xlarge", "x2gd.xlarge"]) assert.equal(instanceArchitecture(t), "arm64", t);
    for (const t of ["m5.large", "c6i.xlarge", "g4dn.xlarge", "m5zn.large", "inf2.xlarge", "gr6.4xlarge"]) assert.equal(instanceArchitecture(t), "x86_64", t);
  });

  it("accepts x86_64 GPU types for Windows and says why it refuses the others", () => {
    for (const t of ["g4dn.xlarge", "g5.2xlarge", "g6e.xlarge", "p3.2xlarge", "g4ad.xlarge"]) assert.equal(windowsGpuTypeProblem(t), undefined, t);
    assert.match(windowsGpuTypeProblem("c5.xlarge")!, /not a GPU instance type/);
    assert.match(windowsGpuTypeProblem("g5g.xlarge")!, /arm64 \(Graviton\)/);
  });
});

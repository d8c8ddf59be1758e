/**
 * What spotq needs to know about EC2 instance types: which families carry a GPU, and the CPU
 * architecture an AMI (and the Node.js build shipped to it) must match. Pure data, no SDK.
 *
 * The table lists the GPU families of the EC2 accelerated-computing line (G and P). A Windows
 * fleet must use one of its x86_64 families: Windows has no arm64 AMIs on EC2, and a type without
 * a GPU would boot, fail its GPU preflight and trip the boot breaker.
 */

export type CpuArchitecture = "x86_64" | "arm64";

export interface GpuFamily {
  arch: CpuArchitecture;
  /** GPU maker: the AMI needs that maker's driver. */
  gpu: "nvidia" | "amd";
  /** The GPU model, for error messages and docs. */
  model: string;
}

/** GPU instance families by family name (the part of a type before the dot). */
export const GPU_FAMILIES: Readonly<Record<string, GpuFamily>> = {
  g3: { arch: "x86_64", gpu: "nvidia", model: "Tesla M60" },
  g3s: { arch: "x86_64", gpu: "nvidia", model: "Tesla M60" },
  g4dn: { arch: "x86_64", gpu: "nvidia", model: "T4" },
  g4ad: { arch: "x86_64", gpu: "amd", model: "Radeon Pro V520" },
  g5: { arch: "x86_64", gpu: "nvidia", model: "A10G" },
  g5g: { arch: "arm64", gpu: "nvidia", model: "T4G" },
  g6: { arch: "x86_64", gpu: "nvidia", model: "L4" },
  g6e: { arch: "x86_64", gpu: "nvidia", model: "L40S" },
  gr6: { arch: "x86_64", gpu: "nvidia", model: "L4" },
  p3: { arch: "x86_64", gpu: "nvidia", model: "V100" },
  p3dn: { arch: "x86_64", gpu: "nvidia", model: "V100" },
  p4d: { arch: "x86_64", gpu: "nvidia", model: "A100" },
  p4de: { arch: "x86_64", gpu: "nvidia", model: "A100" },
  p5: { arch: "x86_64", gpu: "nvidia", model: "H100" },
  p5e: { arch: "x86_64", gpu: "nvidia", model: "H200" },
  p5en: { arch: "x86_64", gpu: "nvidia", model: "H200" },
};

/** The family of an instance type: `g4dn` of `g4dn.xlarge`. */
export function instanceFamily(instanceType: string): string {
  const dot = instanceType.indexOf(".");
  return dot < 0 ? instanceType : instanceType.slice(0, dot);
}

/** The GPU family of a type, or undefined when the table does not list it as a GPU type. */
export function gpuFamily(instanceType: string): GpuFamily | undefined {
  return GPU_FAMILIES[instanceFamily(instanceType)];
}

/**
 * The CPU architecture of a type: from the table for GPU families, else from EC2's naming, where a
 * `g` among the attribute letters after the generation digit means Graviton (`m7g`, `c6gn`, `t4g`).
 */
export function instanceArchitecture(instanceType: string): CpuArchitecture {
  const known = gpuFamily(instanceType);
  if (known) return known.arch;
  const m = /^[a-z]+\d+([a-z-]*)$/.exec(instanceFamily(instanceType));
  return m && m[1]!.includes("g") ? "arm64" : "x86_64";
}

/** Why a type cannot run a Windows GPU worker, or undefined when it can. */
export function windowsGpuTypeProblem(instanceType: string): string | undefined {
  const family = gpuFamily(instanceType);
  if (!family)
    return `${instanceType} is not a GPU instance type spotq knows (core/instance-types.ts lists ${Object.keys(GPU_FAMILIES).join(", ")}); a Windows Medit worker needs a GPU`;
  if (family.arch !== "x86_64") return `${instanceType} is an ${family.arch} (Graviton) type; Windows AMIs on EC2 are x86_64 only`;
  return undefined;
}

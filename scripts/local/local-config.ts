import path from "node:path";
import { fleetConfig, type FleetConfig, type FleetConfigInput } from "../../core/fleet-config.ts";

/**
 * The embedded default of the local stack: the production defaults, with what one machine needs
 * instead: the stand-in processor (fake-medit) for Medit, a small fleet, a short idle timeout so
 * the demo shows the fleet going back to zero, and a visibility timeout that returns a lost
 * worker's job within a minute.
 */
export function localDefaultConfigInput(repoRoot: string): FleetConfigInput {
  return {
    name: "spotq",
    processor: {
      command: path.join(repoRoot, "node_modules", ".bin", "node"),
      // tsx by absolute URL: the processor runs in the job's folder, where a bare "tsx" does not resolve.
      args: ["--import", import.meta.resolve("tsx"), path.join(repoRoot, "scripts", "fake-medit.ts"), "--iScanComplete", "{config}"],
      // A couple of seconds of "processing", so the demo shows each phase of a job.
      env: { FAKE_MEDIT_SLEEP_MS: "2000" },
    },
    queue: { visibilityTimeoutSeconds: 60, receiveWaitSeconds: 20 },
    jobs: { heartbeatSeconds: 10, timeoutSeconds: 900, retryBackoffSeconds: 2, extraOptions: ["Fake Medit Behaviour"], maxAttempts: 3 },
    fleet: {
      platform: "linux",
      minSize: 0,
      maxSize: 4,
      idleTimeoutSeconds: 20,
      bootSeconds: 5,
      // The preflight runs as in AWS, with a stand-in for nvidia-smi, and asks for less free disk than a GPU instance has.
      preflight: { gpuCheck: [path.join(repoRoot, "node_modules", ".bin", "node"), path.join(repoRoot, "scripts", "fake-nvidia-smi.mjs")], minFreeDiskGiB: 1 },
    },
    scaling: { periodSeconds: 60, evaluationPeriods: 1, fastPath: true },
    // A spotq.json uploaded under inbox/ submits its folder (issue 10): on by default here.
    triggers: { s3: { enabled: true } },
  };
}

export function localDefaultConfig(repoRoot: string, overrides: (c: FleetConfigInput) => FleetConfigInput = (c) => c): FleetConfig {
  return fleetConfig(overrides(localDefaultConfigInput(repoRoot)), "local stack config");
}

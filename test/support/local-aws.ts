import { provision, startEmulators, type LocalEmulators, type Resources } from "../../scripts/local/emulators.ts";
import { fleetConfig, type FleetConfig, type FleetConfigInput } from "../../core/fleet-config.ts";

/** Emulators plus the provisioned resources of one test suite. */
export interface LocalAws {
  emulators: LocalEmulators;
  resources: Resources;
  config: FleetConfig;
}

/**
 * Starts fauxqs and dynalite on free ports for the enclosing mocha suite and provisions a
 * deployment's bucket, queues and table from `config`. Use the returned getter inside tests.
 */
export function useLocalAws(config: FleetConfigInput = {}, bucket = "spotq-test"): () => LocalAws {
  let env: LocalAws | undefined;
  before(async function () {
    this.timeout(30_000);
    const cfg = fleetConfig(config);
    const emulators = await startEmulators();
    const resources = await provision(emulators.clients, cfg, bucket);
    env = { emulators, resources, config: cfg };
  });
  after(async () => {
    await env?.emulators.stop();
  });
  return () => {
    if (!env) throw new Error("local AWS is not started: call useLocalAws() inside a describe()");
    return env;
  };
}

#!/usr/bin/env node
// The `spotq` command: loads the TypeScript CLI through tsx (no build step).
import { register } from "tsx/esm/api";

register();
const { runCli, exitQuietlyOnClosedPipe } = await import("../cli/main.ts");
exitQuietlyOnClosedPipe();
process.exitCode = await runCli(process.argv.slice(2));

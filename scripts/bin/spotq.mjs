#!/usr/bin/env node
// The `spotq` command: loads the TypeScript CLI through tsx (no build step).
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("../cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2));

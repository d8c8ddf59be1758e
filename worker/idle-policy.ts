/**
 * The idle rule lives in the scaling model (core/scaling/idle.ts), so the worker, the local fleet
 * and the simulator apply one copy of it. Re-exported here under the names the worker uses.
 */
export { decideIdle, type IdleDecision } from "../core/scaling/idle.ts";

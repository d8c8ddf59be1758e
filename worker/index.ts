export * from "./worker.ts";
export * from "./events.ts";
export * from "./options.ts";

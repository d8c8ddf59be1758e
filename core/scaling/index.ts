export * from "./alarm.ts";
export * from "./idle.ts";
export * from "./metric-feed.ts";
export * from "./model.ts";
export * from "./policy.ts";
export * from "./schedule.ts";

/** The environment the boot breaker construct gives its Lambda (shared by both, without either's imports). */
export const BREAKER_ENV = {
  group: "SPOTQ_GROUP",
  deployment: "SPOTQ_DEPLOYMENT",
  topicArn: "SPOTQ_ALARM_TOPIC_ARN",
  failures: "SPOTQ_BREAKER_FAILURES",
  windowSeconds: "SPOTQ_BREAKER_WINDOW_SECONDS",
} as const;

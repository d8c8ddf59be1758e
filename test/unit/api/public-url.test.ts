import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { withoutStageSegment } from "../../../api/lambda-event.ts";
import { jobStatusUrl, publicBasePath } from "../../../api/public-url.ts";

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../integration/api/fixtures/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;

describe("api/public-url", () => {
  it("has no prefix on the local server or in-process", () => {
    assert.equal(publicBasePath(undefined), "");
    assert.equal(publicBasePath({ incoming: {} }), "");
    assert.equal(jobStatusUrl("http://127.0.0.1:8787/jobs", undefined, "01ARZ3NDEKTSV4RRFFQ69G5FAV"), "http://127.0.0.1:8787/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV");
  });

  it("keeps a REST API's stage (payload 1.0)", () => {
    const event = fixture("apigw-rest-post-jobs.json");
    assert.equal(publicBasePath({ event }), "/prod");
    assert.equal(
      jobStatusUrl("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/jobs", { event }, "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
      "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV",
    );
  });

  it("keeps a custom domain's base path", () => {
    const event = { path: "/jobs/X", requestContext: { path: "/batch/v2/jobs/X" } };
    assert.equal(publicBasePath({ event }), "/batch/v2");
  });

  it("keeps an HTTP API's named stage once the route path is taken off it (payload 2.0)", () => {
    const event = withoutStageSegment(fixture("apigw-http-get-job.json") as never) as { rawPath: string };
    assert.equal(event.rawPath, "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert.equal(publicBasePath({ event }), "/v1");
  });

  it("leaves $default-stage and other events as they are", () => {
    const dflt = { rawPath: "/jobs", requestContext: { stage: "$default", http: { path: "/jobs" } } };
    assert.equal(withoutStageSegment(dflt as never), dflt);
    assert.equal(publicBasePath({ event: dflt }), "");
    const v1 = fixture("apigw-rest-post-jobs.json");
    assert.equal(withoutStageSegment(v1 as never), v1);
    // A route that merely starts like the stage name is not the stage.
    const lookalike = { rawPath: "/v1x/jobs", requestContext: { stage: "v1", http: { path: "/v1x/jobs" } } };
    assert.equal(withoutStageSegment(lookalike as never), lookalike);
  });
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { jobFolders, renderArgs, renderConfigJson } from "../../../core/config-json.ts";
import type { JobRequest } from "../../../core/request.ts";

const fixture = JSON.parse(readFileSync(new URL("../../fixtures/medit-request.json", import.meta.url), "utf8")) as JobRequest;

describe("core/config-json", () => {
  it("lays out a job's folders with Windows paths on win32", () => {
    const f = jobFolders("win32", "D:\\spotq\\work", "01JOB", 2);
    assert.deepEqual(f, {
      root: "D:\\spotq\\work\\01JOB-2",
      source: "D:\\spotq\\work\\01JOB-2\\source",
      target: "D:\\spotq\\work\\01JOB-2\\target",
      config: "D:\\spotq\\work\\01JOB-2\\source\\config.json",
    });
  });

  it("lays out a job's folders with POSIX paths elsewhere", () => {
    const f = jobFolders("posix", "/var/spotq", "01JOB", 1);
    assert.equal(f.config, "/var/spotq/01JOB-1/source/config.json");
  });

  it("renders config.json with local paths and every other key unchanged", () => {
    const f = jobFolders("win32", "C:\\work", "J", 1);
    const out = JSON.parse(renderConfigJson(fixture, f)) as Record<string, unknown>;
    assert.equal(out["Source Folder Path"], "C:\\work\\J-1\\source");
    assert.equal(out["Target Folder Path"], "C:\\work\\J-1\\target");
    assert.deepEqual(Object.keys(out), Object.keys(fixture));
    for (const k of Object.keys(fixture).filter((k) => !k.endsWith("Folder Path"))) assert.equal(out[k], fixture[k]);
  });

  it("substitutes the argument template without splitting arguments", () => {
    const args = renderArgs(["--iScanComplete", "{config}", "--tag={jobId}"], {
      config: "C:\\a dir\\config.json",
      source: "s",
      target: "t",
      jobId: "J1",
    });
    assert.deepEqual(args, ["--iScanComplete", "C:\\a dir\\config.json", "--tag=J1"]);
  });
});

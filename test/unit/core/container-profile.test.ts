import assert from "node:assert/strict";
import { CONTAINER_FOLDERS, jobFolders, processorFolders, renderArgs, renderConfigJson } from "../../../core/config-json.ts";
import { imageUri, parseImageReference, registryHostOf } from "../../../core/container-image.ts";
import { fleetConfig, parseFleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import type { JobRequest } from "../../../core/request.ts";

const LINUX: FleetConfigInput = { fleet: { platform: "linux" } };
const withContainer = (container: Record<string, unknown>, more: FleetConfigInput = {}): FleetConfigInput => ({
  ...LINUX,
  ...more,
  fleet: { ...LINUX.fleet, ...more.fleet },
  processor: { ...more.processor, container: container as never },
});

function problems(input: FleetConfigInput): Record<string, string> {
  const r = parseFleetConfig(input);
  assert.equal(r.ok, false, "expected the config to be refused");
  return r.ok ? {} : Object.fromEntries(r.problems.map((p) => [p.field, p.reason]));
}

describe("core: the container profile (processor.container)", () => {
  describe("image references (core/container-image.ts)", () => {
    it("takes a repository name (this deployment's repository) with a tag, a digest or neither", () => {
      assert.deepEqual(parseImageReference("medit-iscan"), { ok: true, value: { repository: "medit-iscan", tag: "latest" } });
      assert.deepEqual(parseImageReference("team/medit:v3.1"), { ok: true, value: { repository: "team/medit", tag: "v3.1" } });
      const digest = `sha256:${"a".repeat(64)}`;
      assert.deepEqual(parseImageReference(`team/medit@${digest}`), { ok: true, value: { repository: "team/medit", digest } });
    });

    it("takes the URI of an existing ECR repository, with its account and region", () => {
      const r = parseImageReference("111122223333.dkr.ecr.eu-central-1.amazonaws.com/lab/proc:2025-03");
      assert.deepEqual(r, {
        ok: true,
        value: { repository: "lab/proc", tag: "2025-03", registry: { host: "111122223333.dkr.ecr.eu-central-1.amazonaws.com", accountId: "111122223333", region: "eu-central-1" } },
      });
      assert.equal(parseImageReference("111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/proc").ok, true);
    });

    it("refuses what no ECR pull could serve, saying why", () => {
      const reason = (t: string) => {
        const r = parseImageReference(t);
        assert.equal(r.ok, false, t);
        return r.ok ? "" : r.reason;
      };
      assert.match(reason("docker.io/library/ubuntu:22.04"), /"docker\.io", which is not a private Amazon ECR registry/);
      assert.match(reason("Medit"), /"Medit" is not a repository name/);
      assert.match(reason("medit:bad tag"), /has the tag "bad tag"/);
      assert.match(reason(`medit:v1@sha256:${"a".repeat(64)}`), /both a tag and a digest/);
      assert.match(reason("medit@sha256:abc"), /not sha256:<64 lowercase hex digits>/);
      assert.match(reason(""), /must be an Amazon ECR repository name/);
    });

    it("builds the reference docker pulls from the registry host GetAuthorizationToken names", () => {
      const parsed = parseImageReference("team/medit");
      assert.ok(parsed.ok);
      const ref = parsed.value;
      assert.equal(registryHostOf("https://111122223333.dkr.ecr.us-east-1.amazonaws.com"), "111122223333.dkr.ecr.us-east-1.amazonaws.com");
      assert.equal(imageUri(ref, "111122223333.dkr.ecr.us-east-1.amazonaws.com"), "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/medit:latest");
    });
  });

  describe("config.json and the arguments with container paths (core/config-json.ts)", () => {
    const request = {
      "Source Folder Path": "s3://b/in",
      "Target Folder Path": "s3://b/out",
      "Use GPU": true,
      "Complete Type": 1,
    } as JobRequest;
    const host = jobFolders("posix", "/var/lib/spotq/jobs", "01JOB", 2);

    it("renders the same config.json, with the mount points in place of the instance's folders", () => {
      const folders = processorFolders(host, true);
      assert.deepEqual(JSON.parse(renderConfigJson(request, folders)), {
        "Source Folder Path": "/spotq/source",
        "Target Folder Path": "/spotq/target",
        "Use GPU": true,
        "Complete Type": 1,
      });
      assert.deepEqual(Object.keys(JSON.parse(renderConfigJson(request, folders))), Object.keys(request), "key order kept");
      assert.equal(processorFolders(host, false), host, "without a container: the instance's own folders");
    });

    it("resolves the argument template to container paths, each still one argument", () => {
      assert.deepEqual(renderArgs(["--iScanComplete", "{config}", "--out={target}", "{jobId}"], { ...CONTAINER_FOLDERS, jobId: "01JOB" }), [
        "--iScanComplete",
        "/spotq/source/config.json",
        "--out=/spotq/target",
        "01JOB",
      ]);
    });
  });

  describe("validation (core/fleet-config.ts)", () => {
    it("accepts the profile with its defaults on a Linux fleet", () => {
      const c = fleetConfig(withContainer({ image: "medit-iscan", gpus: "all" }));
      assert.deepEqual(c.processor.container, { image: "medit-iscan", gpus: "all", stopTimeoutSeconds: 10, pullTimeoutSeconds: 900 });
      assert.equal(fleetConfig({}).processor.container, undefined, "absent by default: the command runs on the instance");
    });

    it("runs on Linux only, and refuses processor.command (the image's entrypoint runs)", () => {
      const p = problems({ processor: { command: "/usr/bin/medit", container: { image: "medit" } as never } });
      assert.match(p["processor.container"]!, /Linux fleets only.*fleet\.platform to "linux"/);
      assert.match(p["processor.command"]!, /not used with processor\.container/);
    });

    it("names a bad image, user, gpus and an unknown key", () => {
      const p = problems(withContainer({ image: "quay.io/x/y", user: "medit", gpus: 0, network: "none" }));
      assert.match(p["processor.container.image"]!, /not a private Amazon ECR registry/);
      assert.match(p["processor.container.user"]!, /numeric uid or uid:gid/);
      assert.ok(p["processor.container.gpus"], "gpus 0");
      assert.match(p["processor.container.network"]!, /unknown key/);
    });

    it("refuses docker run's own exit codes and the signal codes as invalid-request codes", () => {
      const p = problems(withContainer({ image: "medit" }, { jobs: { invalidRequestExitCodes: [2, 125, 127, 137] } }));
      assert.deepEqual(Object.keys(p).sort(), ["jobs.invalidRequestExitCodes.1", "jobs.invalidRequestExitCodes.2", "jobs.invalidRequestExitCodes.3"]);
      assert.match(p["jobs.invalidRequestExitCodes.1"]!, /125 is an exit code of docker run itself/);
      assert.match(p["jobs.invalidRequestExitCodes.3"]!, /137 is how docker run reports a container killed by signal 9/);
      assert.ok(fleetConfig({ jobs: { invalidRequestExitCodes: [125] } }), "without a container, 125 is the processor's own code");
    });

    it("keeps the stop within the service's stop grace, and the pull within the launch hook", () => {
      const p = problems(withContainer({ image: "medit", stopTimeoutSeconds: 85, pullTimeoutSeconds: 1800 }));
      assert.match(p["processor.container.stopTimeoutSeconds"]!, /fleet\.stopGraceSeconds \(90 s\)/);
      assert.match(p["processor.container.pullTimeoutSeconds"]!, /below fleet\.lifecycleHooks\.launchTimeoutSeconds \(1800\)/);
    });

    it("needs NVIDIA GPU types for gpus, and x86_64 types for the default (ECS GPU) AMI", () => {
      const p = problems(withContainer({ image: "medit", gpus: 1 }, { fleet: { instanceTypes: ["g4ad.xlarge", "c5.xlarge", "g5g.xlarge"] } }));
      assert.match(p["fleet.instanceTypes.0"]!, /AMD.*needs NVIDIA/);
      assert.match(p["fleet.instanceTypes.1"]!, /not a GPU instance type/);
      assert.match(p["fleet.instanceTypes.2"]!, /arm64 type, but without fleet\.amiId .* ECS GPU-optimised AMI/);
      assert.ok(fleetConfig(withContainer({ image: "medit" }, { fleet: { instanceTypes: ["g5g.xlarge"], amiId: "ami-0123456789abcdef0" } })), "an own arm64 AMI is fine");
    });

    it("applies keepImages only to a repository the deployment creates", () => {
      const p = problems(withContainer({ image: "111122223333.dkr.ecr.us-east-1.amazonaws.com/medit", keepImages: 5 }));
      assert.match(p["processor.container.keepImages"]!, /only to a repository this deployment creates/);
      assert.equal(fleetConfig(withContainer({ image: "medit", keepImages: 5 })).processor.container?.keepImages, 5);
    });
  });
});

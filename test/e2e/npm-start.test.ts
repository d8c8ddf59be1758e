import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../../scripts/local/start.ts";
import { processesLeftBy } from "../support/e2e-processes.ts";

/** The body and headers of the first `curl -s -X POST …/jobs … -d '…'` in a text (joined across `\` line ends). */
function postCurl(text: string): { url: string; headers: Record<string, string>; body: string } {
  const joined = text.replace(/\\\n\s*/g, " ");
  const m = /curl -s -X POST (\S+)\s+((?:-H '[^']*'\s+)+)-d '([^']*)'/.exec(joined);
  assert.ok(m, `no POST curl in:\n${text}`);
  const headers: Record<string, string> = {};
  for (const h of m[2]!.matchAll(/-H '([^:]+): ([^']*)'/g)) headers[h[1]!] = h[2]!;
  return { url: m[1]!, headers, body: m[3]! };
}

/**
 * `npm start` as a user runs it (the script in a child process, on a temporary folder): the
 * banner's curl works exactly as printed, and says the same as the README's; the folder the upload
 * hint names exists; after `ready` every job state change and fleet change gets a line; Ctrl-C
 * stops everything.
 */
describe("e2e: npm start, as printed", function () {
  this.timeout(240_000);
  let root: string;
  let child: ChildProcess | undefined;
  let stdout = "";
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  /** Resolves once stdout matches `re` (already or later). */
  const printed = (re: RegExp, timeoutMs = 120_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const now = stdout.match(re);
      if (now) return resolve(now);
      const timer = setTimeout(() => reject(new Error(`not printed within ${timeoutMs / 1000} s: ${re}\n--- stdout ---\n${stdout}`)), timeoutMs);
      waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "spotq-npm-start-"));
  });

  after(async function () {
    this.timeout(60_000);
    if (child && child.exitCode === null) child.kill("SIGKILL");
    const left = await processesLeftBy(path.join(root, "stack"), []);
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    assert.deepEqual(left, [], "no process outlived the stack");
  });

  it("prints a curl that works as printed, then a line per job and fleet change, and stops on Ctrl-C", async () => {
    child = spawn(path.join(REPO_ROOT, "node_modules", ".bin", "node"), ["--import", "tsx", "scripts/local/start.ts", "--no-demo"], {
      cwd: REPO_ROOT,
      env: { ...process.env, SPOTQ_LOCAL_DIR: path.join(root, "stack"), SPOTQ_HOME: path.join(root, "home"), SPOTQ_PORT: "0", SPOTQ_CONFIG: "", SPOTQ_CONFIG_JSON: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    child.stdout!.on("data", (b: Buffer) => {
      stdout += b.toString();
      for (const w of [...waiters]) {
        const m = stdout.match(w.re);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));

    await printed(/^live: one line per job state change and per fleet change$/m);
    const banner = stdout;

    // The upload hint names a folder that exists.
    const upload = /upload (\S+) s3:\/\/\S+/.exec(banner);
    assert.ok(upload && existsSync(path.resolve(REPO_ROOT, upload[1]!)), `the upload hint's folder exists: ${upload?.[1]}`);

    // The README's curl is the banner's, but for the port.
    const printedCurl = postCurl(banner);
    const readme = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Submitting a job"), readme.indexOf("### The `spotq` CLI"));
    const readmeCurl = postCurl(section);
    assert.deepEqual({ ...readmeCurl, url: readmeCurl.url.replace(/:\d+\//, ":PORT/") }, { ...printedCurl, url: printedCurl.url.replace(/:\d+\//, ":PORT/") });

    // The printed curl, exactly: 202, and the job runs.
    const res = await fetch(printedCurl.url, { method: "POST", headers: printedCurl.headers, body: printedCurl.body });
    const text = await res.text();
    assert.equal(res.status, 202, text);
    const { jobId } = JSON.parse(text) as { jobId: string };

    await printed(/fleet: desired capacity 0 -> 1 \(api\)/);
    await printed(new RegExp(`job ${jobId} QUEUED, new`));
    await printed(new RegExp(`job ${jobId} RUNNING on i-[0-9a-f]{17} \\(attempt 1\\), was QUEUED`));
    await printed(new RegExp(`job ${jobId} SUCCEEDED \\(attempt 1\\), was RUNNING`));
    await printed(/fleet: instance i-[0-9a-f]{17} in service, worker started/);

    // The same key again: the same job (and no new line for it).
    const again = await fetch(printedCurl.url, { method: "POST", headers: printedCurl.headers, body: printedCurl.body });
    assert.equal(((await again.json()) as { jobId: string }).jobId, jobId);

    child.kill("SIGINT");
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /^stopped\.$/m);
    assert.equal(stdout.match(new RegExp(`job ${jobId} SUCCEEDED`, "g"))?.length, 1, "each change once");
  });
});

/**
 * fake-medit: the stand-in for `Medit_AutoTest.exe --iScanComplete <config.json>`.
 *
 * Reads config.json and checks it as Medit would, reads every file of the source folder and writes
 * deterministic results to the target folder (`manifest.json`: every input with its size and
 * sha256; `result.bin`: a sha256 chain over them; with `Save Source To Result Folder`, a copy of
 * the inputs under `source/`), so a test can check the outputs byte for byte.
 *
 * Exit codes: 0 done, 2 bad arguments or config, 1 failure; a crash is an abort (SIGABRT).
 * Behaviour for tests comes from the environment (FAKE_MEDIT_SLEEP_MS, FAKE_MEDIT_FAIL,
 * FAKE_MEDIT_FAIL_ATTEMPTS, FAKE_MEDIT_CRASH, FAKE_MEDIT_HANG, FAKE_MEDIT_EXIT_CODE) and, for a
 * single job, from the request option "Fake Medit Behaviour" (e.g. "sleep=5000 fail").
 *
 * Run: node --import tsx scripts/fake-medit.ts --iScanComplete /path/to/config.json
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { behaviourFromEnv, parseBehaviour, type Behaviour } from "./fake-medit/behaviour.ts";
import { checkMeditConfig } from "./fake-medit/config.ts";
import { buildManifest, OUTPUT_FILES, renderManifest, resultDigest, type ManifestEntry } from "./fake-medit/outputs.ts";

export const EXIT = { ok: 0, failure: 1, invalidConfig: 2 } as const;

const say = (line: string) => process.stdout.write(`fake-medit: ${line}\n`);
const warn = (line: string) => process.stderr.write(`fake-medit: ${line}\n`);

function usage(reason: string): never {
  warn(`${reason}\nusage: fake-medit --iScanComplete <config.json>`);
  process.exit(EXIT.invalidConfig);
}

async function main(argv: string[]): Promise<number> {
  if (argv.length !== 2 || argv[0] !== "--iScanComplete") usage(`expected exactly "--iScanComplete <config.json>", got ${JSON.stringify(argv)}`);
  const configPath = path.resolve(argv[1]!);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(configPath, "utf8"));
  } catch (err) {
    warn(`cannot read config ${configPath}: ${(err as Error).message}`);
    return EXIT.invalidConfig;
  }
  const checked = checkMeditConfig(json);
  if (!checked.ok) {
    for (const p of checked.problems) warn(`invalid config: ${p}`);
    return EXIT.invalidConfig;
  }
  const config = checked.config;
  let behaviour: Behaviour;
  try {
    behaviour = { ...behaviourFromEnv(process.env), ...(config.behaviour ? parseBehaviour(config.behaviour) : {}) };
  } catch (err) {
    warn((err as Error).message);
    return EXIT.invalidConfig;
  }
  say(`config ok: ${Object.keys(config.raw).length} keys, source ${config.source}, target ${config.target}`);

  if (behaviour.exitCode !== undefined) {
    warn(`exiting with code ${behaviour.exitCode} as told`);
    return behaviour.exitCode;
  }
  const attempt = Number(process.env.SPOTQ_ATTEMPT ?? 1);
  if (behaviour.fail || (behaviour.failAttempts !== undefined && attempt <= behaviour.failAttempts)) {
    warn(`failing as told (attempt ${attempt})`);
    return EXIT.failure;
  }
  if (behaviour.crash) {
    warn("crashing as told");
    process.abort();
  }
  if (behaviour.hang) return hang(config.target);

  const inputs = await listFiles(config.source, configPath);
  say(`reading ${inputs.length} input files`);
  const entries: ManifestEntry[] = [];
  for (const rel of inputs) entries.push({ path: rel, ...(await digestFile(path.join(config.source, ...rel.split("/")))) });
  const manifest = buildManifest(entries);
  say(`read ${manifest.count} files, ${manifest.bytes} bytes`);

  if (behaviour.sleepMs) await sleepWithProgress(behaviour.sleepMs);

  await mkdir(config.target, { recursive: true });
  await writeFile(path.join(config.target, OUTPUT_FILES.manifest), renderManifest(manifest));
  await writeFile(path.join(config.target, OUTPUT_FILES.result), resultDigest(manifest));
  if (config.saveSource) {
    for (const rel of inputs) {
      const to = path.join(config.target, OUTPUT_FILES.sourceCopy, ...rel.split("/"));
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(path.join(config.source, ...rel.split("/")), to);
    }
    say(`copied ${inputs.length} source files to the result folder`);
  }
  say(`done: wrote ${OUTPUT_FILES.manifest} and ${OUTPUT_FILES.result}`);
  return EXIT.ok;
}

/** Every file under `root`, as sorted `/`-separated relative paths, leaving out config.json itself. */
async function listFiles(root: string, configPath: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(full, r);
      else if (e.isFile() && path.resolve(full) !== configPath) out.push(r);
    }
  };
  await walk(root, "");
  return out.sort();
}

async function digestFile(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), async function* (chunks: AsyncIterable<Buffer>) {
    for await (const c of chunks) {
      size += c.length;
      hash.update(c);
    }
  });
  return { size, sha256: hash.digest("hex") };
}

async function sleepWithProgress(ms: number): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    await new Promise((r) => setTimeout(r, Math.min(1000, ms - (Date.now() - started))));
    say(`processing ${Math.min(100, Math.round(((Date.now() - started) / ms) * 100))}%`);
  }
}

/** Never returns: ignores SIGTERM and keeps a helper process alive, so only a tree kill ends it. */
function hang(target: string): Promise<number> {
  process.on("SIGTERM", () => warn("ignoring SIGTERM"));
  const helper = spawn(process.execPath, ["-e", "process.on('SIGTERM',()=>{});setInterval(()=>{},1000)"], { stdio: "ignore" });
  return (async () => {
    await mkdir(target, { recursive: true });
    await writeFile(path.join(target, OUTPUT_FILES.helperPid), String(helper.pid));
    say(`hanging as told; helper pid ${helper.pid}`);
    await new Promise(() => setInterval(() => say("still working"), 1000));
    return EXIT.failure;
  })();
}

const code = await main(process.argv.slice(2)).catch((err: unknown) => {
  warn(`unexpected error: ${(err as Error).stack ?? String(err)}`);
  return EXIT.failure;
});
process.exitCode = code;

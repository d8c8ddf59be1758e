// The file system a container sees, for the stand-in processor that test/support/fake-docker.mjs
// runs as a "container": loaded with `node --import`, it maps the container paths of the bind
// mounts (FAKE_CONTAINER_MOUNTS: [{ source, target, readonly }]) to the host folders, in the fs
// functions a processor uses, and refuses writes under a read-only mount with EROFS, as the kernel
// would. The processor keeps seeing `/spotq/source/config.json` and the paths inside it.
// Plain JavaScript: no tsx needed before it runs.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import path from "node:path";

const mounts = JSON.parse(process.env.FAKE_CONTAINER_MOUNTS ?? "[]")
  .map((m) => ({ ...m, target: path.posix.resolve(m.target) }))
  // The longest target first, so a nested mount wins.
  .sort((a, b) => b.target.length - a.target.length);

/** The host path of a container path, and whether it lies on a read-only mount. */
function resolve(p) {
  if (typeof p !== "string" && !(p instanceof URL)) return { path: p, readonly: false };
  const text = p instanceof URL ? p.pathname : p;
  const abs = path.posix.resolve(text);
  for (const m of mounts)
    if (abs === m.target || abs.startsWith(`${m.target}/`)) return { path: path.join(m.source, abs.slice(m.target.length)), readonly: Boolean(m.readonly) };
  return { path: p, readonly: false };
}

function readOnly(syscall, p) {
  const err = new Error(`EROFS: read-only file system, ${syscall} '${p}'`);
  err.code = "EROFS";
  err.errno = -30;
  err.syscall = syscall;
  err.path = p;
  return err;
}

/** Wraps fn so its path arguments (by index) are mapped; writes (`write`: true) on a read-only mount fail. */
function wrap(obj, name, pathArgs, write, kind) {
  const original = obj[name];
  if (typeof original !== "function") return;
  obj[name] = function (...args) {
    for (const i of pathArgs) {
      if (i >= args.length) continue;
      const r = resolve(args[i]);
      const isWrite = typeof write === "function" ? write(args) : write;
      // Of two paths (copyFile, rename), only the last is written.
      if (r.readonly && isWrite && i === pathArgs[pathArgs.length - 1]) {
        const err = readOnly(name, args[i]);
        if (kind === "promise") return Promise.reject(err);
        if (kind === "callback" && typeof args[args.length - 1] === "function") return void process.nextTick(args[args.length - 1], err);
        throw err;
      }
      args[i] = r.path;
    }
    return original.apply(this, args);
  };
}

const writeFlag = (args) => {
  const o = args[1];
  const flags = typeof o === "string" ? o : o?.flags;
  return typeof flags === "string" && /[wa+]/.test(flags);
};

const reads = ["stat", "lstat", "access", "readdir", "readFile", "readlink", "realpath", "opendir", "exists"];
const writes = ["writeFile", "appendFile", "mkdir", "rm", "rmdir", "unlink", "utimes", "chmod", "chown", "truncate", "mkdtemp"];

for (const name of reads) {
  wrap(fs, `${name}Sync`, [0], false, "sync");
  wrap(fs, name, [0], false, "callback");
  wrap(fs.promises, name, [0], false, "promise");
}
for (const name of writes) {
  wrap(fs, `${name}Sync`, [0], true, "sync");
  wrap(fs, name, [0], true, "callback");
  wrap(fs.promises, name, [0], true, "promise");
}
// Two paths: the source is read, the destination written.
for (const name of ["copyFile", "rename", "cp"]) {
  wrap(fs, `${name}Sync`, [0, 1], true, "sync");
  wrap(fs, name, [0, 1], true, "callback");
  wrap(fs.promises, name, [0, 1], true, "promise");
}
wrap(fs, "openSync", [0], writeFlag, "sync");
wrap(fs, "open", [0], writeFlag, "callback");
wrap(fs.promises, "open", [0], writeFlag, "promise");
wrap(fs, "createReadStream", [0], false, "sync");
wrap(fs, "createWriteStream", [0], true, "sync");
syncBuiltinESMExports();

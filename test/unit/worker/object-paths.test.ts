import assert from "node:assert/strict";
import { jobFolders } from "../../../core/config-json.ts";
import { checkPathSet, keyOf, localPathOf, relativePathOfKey } from "../../../worker/object-paths.ts";

describe("worker/object-paths", () => {
  it("maps keys under the folder prefix to relative paths, skipping folder markers", () => {
    assert.equal(relativePathOfKey("posix", "jobs/in/", "jobs/in/scan/a.bin"), "scan/a.bin");
    assert.equal(relativePathOfKey("posix", "jobs/in/", "jobs/in/scan/"), undefined);
    assert.equal(relativePathOfKey("posix", "jobs/in/", "jobs/in/"), undefined);
  });

  it("refuses keys that would escape the job folder, naming the key", () => {
    assert.throws(() => relativePathOfKey("posix", "in/", "in/../../etc/passwd"), /"in\/..\/..\/etc\/passwd" has a "\.\." path segment/);
    assert.throws(() => relativePathOfKey("posix", "in/", "in/a//b"), /empty path segment/);
    assert.throws(() => relativePathOfKey("posix", "in/", "other/a"), /not under the folder prefix/);
  });

  it("on Windows, refuses names Windows cannot hold, and accepts them elsewhere", () => {
    assert.throws(() => relativePathOfKey("win32", "in/", "in/scan:1.bin"), /character Windows refuses/);
    assert.throws(() => relativePathOfKey("win32", "in/", "in/a\\b.bin"), /character Windows refuses/);
    assert.throws(() => relativePathOfKey("win32", "in/", "in/CON.txt"), /reserved Windows device name "CON.txt"/);
    assert.throws(() => relativePathOfKey("win32", "in/", "in/dir./a"), /ending in a dot or space/);
    assert.equal(relativePathOfKey("posix", "in/", "in/scan:1.bin"), "scan:1.bin");
  });

  it("puts files under the job's source folder with the platform's separators", () => {
    const win = jobFolders("win32", "C:\\spotq\\work", "01JOB", 2);
    assert.equal(localPathOf("win32", win.source, "scan/frames/a.bin"), "C:\\spotq\\work\\01JOB-2\\source\\scan\\frames\\a.bin");
    const posix = jobFolders("posix", "/var/spotq", "01JOB", 2);
    assert.equal(localPathOf("posix", posix.source, "scan/frames/a.bin"), "/var/spotq/01JOB-2/source/scan/frames/a.bin");
  });

  it("builds target keys with / whatever the platform", () => {
    assert.equal(keyOf("jobs/out", "sub/result.bin"), "jobs/out/sub/result.bin");
  });

  it("refuses object sets that cannot coexist as files", () => {
    assert.throws(() => checkPathSet("posix", ["a", "a/b"]), /needs "a" to be a folder/);
    assert.throws(() => checkPathSet("win32", ["Scan.bin", "scan.bin"]), /collides with "Scan.bin"/);
    assert.doesNotThrow(() => checkPathSet("posix", ["Scan.bin", "scan.bin", "a/b", "a/c"]));
  });
});

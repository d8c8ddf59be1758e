// The console's shell: hash routes (#/jobs, #/jobs/<id>, #/fleet), the API key dialog, the
// live region that announces changes, and the problem banner. Each view polls the API while shown.

import { AuthError, storedKey, storeKey } from "./api.js";
import { put } from "./dom.js";
import { mountFleet } from "./fleet.js";
import { mountJob } from "./job.js";
import { mountJobs } from "./jobs.js";

const main = document.getElementById("main");
const announcer = document.getElementById("announcer");
const problem = document.getElementById("problem");
const updated = document.getElementById("updated");
const keyDialog = document.getElementById("key-dialog");
const keyInput = document.getElementById("key-input");
const keyReason = document.getElementById("key-reason");
const confirmDialog = document.getElementById("confirm-dialog");

/** How often views poll: `?poll=<ms>` on the console's URL (at least 250), else 2 s. */
const pollMs = (() => {
  const v = Number(new URLSearchParams(location.search).get("poll"));
  return Number.isFinite(v) && v >= 250 ? v : 2000;
})();

let lastAnnouncement = "";
/** Says `message` through the polite live region (once, even if repeated at once). */
function announce(message) {
  if (!message) return;
  // The same text twice in a row would not be read again: vary it invisibly.
  announcer.textContent = message === lastAnnouncement ? `${message}\u00a0` : message;
  lastAnnouncement = announcer.textContent;
}

/** Shows (or, with nothing, clears) the problem banner. An AuthError opens the key dialog instead. */
function report(err, what) {
  if (!err) {
    if (!problem.hidden) {
      problem.hidden = true;
      problem.textContent = "";
    }
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    return;
  }
  if (err instanceof AuthError) {
    askForKey(`${err.message}. Enter the API key to continue.`);
    return;
  }
  problem.hidden = false;
  problem.textContent = `${what}: ${err.message}. Retrying…`;
}

let keyWanted = false;
/** Opens the key dialog; views re-render once a key is saved. */
function askForKey(reason = "") {
  // Open already: leave it (and what is being typed) alone; polls keep failing until it is saved.
  if (keyDialog.open) return;
  keyReason.textContent = reason;
  keyInput.value = storedKey();
  keyWanted = Boolean(reason);
  keyDialog.showModal();
}

keyDialog.addEventListener("close", () => {
  const choice = keyDialog.returnValue;
  if (choice === "save") storeKey(keyInput.value.trim());
  if (choice === "clear") storeKey("");
  if (choice === "save" || choice === "clear") {
    announce(choice === "save" ? "API key saved for this tab" : "API key forgotten");
    route();
  } else if (keyWanted) {
    problem.hidden = false;
    problem.textContent = "The API needs a key: choose “API key” to enter one.";
  }
  keyWanted = false;
});
document.getElementById("key-button").addEventListener("click", () => askForKey(""));

/**
 * Asks to confirm a consequential action in a modal dialog; resolves true on yes.
 * @param {{ title: string, text: string, yes: string, danger?: boolean }} o
 */
function confirmAction(o) {
  document.getElementById("confirm-title").textContent = o.title;
  document.getElementById("confirm-text").textContent = o.text;
  document.getElementById("confirm-yes").textContent = o.yes;
  document.getElementById("confirm-yes").className = o.danger ? "danger" : "";
  confirmDialog.returnValue = "";
  confirmDialog.showModal();
  return new Promise((resolve) => confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue === "yes"), { once: true }));
}

let current;
let firstRoute = true;
let generation = 0;

/** Mounts the view the hash names; the old one stops polling. */
function route() {
  current?.unmount();
  current = undefined;
  // A view's answers that arrive after it was left (a request in flight) are dropped: an old
  // 403 must not reopen the key dialog once a key was saved.
  const gen = ++generation;
  const live = (fn) => (...args) => {
    if (gen === generation) fn(...args);
  };
  const ctx = { pollMs, announce: live(announce), report: live(report), confirmAction };
  const hash = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  let section;
  put(main);
  if (job) {
    section = "jobs";
    current = mountJob(main, ctx, decodeURIComponent(job[1]));
  } else if (path === "/fleet") {
    section = "fleet";
    current = mountFleet(main, ctx);
  } else {
    section = "jobs";
    current = mountJobs(main, ctx, params);
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // After a navigation, focus the new view's heading so keyboard and screen reader users land there.
  if (!firstRoute) main.querySelector("h1")?.focus();
  firstRoute = false;
}

window.addEventListener("hashchange", route);
route();

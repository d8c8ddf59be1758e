import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Debian's chromium (`apt-get install -y chromium`); `.ci/run` installs it when missing. */
export const CHROMIUM = process.env.SPOTQ_CHROMIUM ?? "/usr/bin/chromium";

/** Flags for a quiet, reproducible headless run (no sandbox: CI runs as root in a container). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless chromium with a fresh profile, and what the page reported. */
export interface ConsoleBrowser {
  context: BrowserContext;
  /** Uncaught errors and console errors of every page, to assert there were none. `SPOTQ_E2E_BROWSER_LOG=1` prints every console line. */
  problems: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Starts the machine's chromium through playwright-core (no browser download) with a fresh
 * `--user-data-dir` (playwright's persistent context is how it takes one). Fails naming the fix
 * when chromium is missing.
 */
export async function startConsoleBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<ConsoleBrowser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium, as .ci/run does) or set SPOTQ_CHROMIUM to a chromium binary`);
  const profile = mkdtempSync(path.join(os.tmpdir(), "spotq-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: options.viewport ?? { width: 1280, height: 860 },
      colorScheme: "light",
      reducedMotion: "reduce",
      locale: "en-GB",
      timezoneId: "UTC",
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (m) => {
      if (process.env.SPOTQ_E2E_BROWSER_LOG) process.stdout.write(`      browser ${m.type()}: ${m.text()}\n`);
      if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    });
  };
  context.on("page", watch);
  context.pages().forEach(watch);
  return {
    context,
    problems,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/**
 * Debian's chromium for the browser tests, driven by puppeteer-core (which downloads
 * nothing). Missing: the test skips with the reason, except on CI (CI=true) where it fails.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') return false;
  const reason = `${CHROMIUM} is not installed (scripts/setup.sh --test installs it)`;
  process.stdout.write(`# browser test skipped: ${reason}\n`);
  return reason;
}

export function launchChromium(): Promise<Browser> {
  const root = process.getuid?.() === 0;
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium's own background traffic (component updates, sync, safe browsing lookups)
    // would leave the box; the page under test must be the only thing it talks to.
    args: [
      ...(root ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
    defaultViewport: { width: 1280, height: 860 },
  });
}

/** Where screenshots go (git-ignored); EDGE_TEST_ARTIFACTS moves it. */
export function artifactDir(name: string): string {
  const dir = join(process.env.EDGE_TEST_ARTIFACTS ?? join(process.cwd(), 'test-artifacts'), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// What the browser test scripts share: child processes that die with the run, checks, and
// playing a URL with hls.js in a Chromium page (player.html) while sampling what it reports.

import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '../..');
export const started = Date.now();

// Every program the run starts is killed when it ends, however it ends.
export const children = new Set();
export function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
  children.clear();
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => { killChildren(); process.exit(130); });
}

// BROWSER_CASES=REGEX runs only the cases whose name matches (for working on one).
export const wanted = (name) => !process.env.BROWSER_CASES || new RegExp(process.env.BROWSER_CASES).test(name);

export class CheckFailed extends Error {}
export function check(ok, message) {
  if (!ok) throw new CheckFailed(message);
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
export function log(line) { process.stdout.write(`${line}\n`); }
export const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

export function run(cmd, args, opts = {}) {
  const result = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (result.error) throw new Error(`${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status}\n${result.stderr}`);
  }
  return result.stdout;
}

export async function waitFor(predicate, timeoutMs, stepMs = 25) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value || Date.now() >= until) return value;
    await sleep(stepMs);
  }
}

// Plays `src` in a new page of `browser` loaded from `pageOrigin` until the first of: the video
// ended (`vodSeconds`), playback advanced `liveSeconds` past where it started, or `watchSeconds`
// of wall time passed since it started. `lowLatency: false` turns hls.js's lowLatencyMode off.
// Returns the last sample, where playback started (media time, and the wall clock when it was
// first seen), the live latencies hls.js reported, the wall-clock latencies against
// EXT-X-PROGRAM-DATE-TIME, and every request the page made with its answer.
// `step({ page, s, advanced })`, if given, runs after every sample once playback started (to
// steer the player); `stopWhen({ s, advanced })` ends the watch early when it returns true.
export async function play(browser, pageOrigin, src,
  { vodSeconds = null, liveSeconds = null, watchSeconds = null, lowLatency = true, timeoutMs,
    step = null, stopWhen = null }) {
  const page = await browser.newPage();
  const consoleErrors = [];
  // url, then status (null while unanswered) and Access-Control-Allow-Origin once answered
  const requests = new Map();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => { requests.set(r, { url: r.url(), status: null, allowOrigin: null }); });
  page.on('response', (r) => {
    const entry = requests.get(r.request());
    if (entry) {
      entry.status = r.status();
      entry.allowOrigin = r.headers()['access-control-allow-origin'] ?? null;
    }
  });
  page.on('requestfailed', (r) => {
    const entry = requests.get(r);
    if (entry) entry.status = `failed: ${r.failure()?.errorText}`;
  });
  try {
    await page.goto(`${pageOrigin}/?src=${encodeURIComponent(src)}${lowLatency ? '' : '&ll=0'}`);
    const until = Date.now() + timeoutMs;
    let s = null;
    let startTime = null;
    let startWall = null;
    let startSample = null;
    const latencies = [];
    const wallLatencies = [];
    for (;;) {
      s = await page.evaluate(() => window.sample());
      if (s.report.fatal) {
        throw new CheckFailed(`hls.js fatal error: ${JSON.stringify(s.report.fatal)}; all errors: ${JSON.stringify(s.report.errors)}`);
      }
      if (s.mediaError) throw new CheckFailed(`video element error: ${s.mediaError}`);
      if (startTime === null && s.report.firstPlayingTime !== null) {
        startTime = s.report.firstPlayingTime;
        startWall = Date.now();
        startSample = s;
      }
      if (startTime !== null && Number.isFinite(s.latency) && s.latency > 0) latencies.push(s.latency);
      if (startTime !== null && s.playingDate !== null) wallLatencies.push((s.now - s.playingDate) / 1000);
      const advanced = startTime === null ? 0 : s.currentTime - startTime;
      if (step && startTime !== null) await step({ page, s, advanced });
      if (stopWhen && startTime !== null && stopWhen({ s, advanced })) break;
      if (vodSeconds !== null && s.ended) break;
      if (liveSeconds !== null && advanced >= liveSeconds) break;
      if (watchSeconds !== null && startWall !== null && Date.now() - startWall >= watchSeconds * 1000) break;
      if (Date.now() >= until) {
        throw new CheckFailed(`timed out: currentTime ${s.currentTime.toFixed(2)} (started at ${startTime}), paused ${s.paused}, readyState ${s.readyState}, errors ${JSON.stringify(s.report.errors)}, console ${JSON.stringify(consoleErrors.slice(0, 5))}`);
      }
      await sleep(200);
    }
    const watchedSeconds = startWall === null ? 0 : (Date.now() - startWall) / 1000;
    return { s, startTime, startSample, watchedSeconds, latencies, wallLatencies,
      requests: [...requests.values()], consoleErrors };
  } finally {
    await page.close();
  }
}

// `expected(error)` marks the hls.js errors a case provokes on purpose.
export function checkQuality(name, s, expected = () => false) {
  const network = s.report.errors.filter((e) => e.type === 'networkError' && !expected(e));
  check(network.length === 0, `${name}: hls.js network errors (retried): ${JSON.stringify(network)}`);
  check(s.totalVideoFrames > 0, `${name}: no video frames decoded`);
  // Frames dropped by the compositor depend on how busy the machine is (one loaded CI run
  // dropped 70 of 240 where reruns dropped none), so only a wholesale loss fails here: that is
  // what broken timestamps look like. The count is printed either way.
  const allowed = Math.max(3, Math.floor(s.totalVideoFrames * 0.5));
  check(s.droppedVideoFrames <= allowed,
    `${name}: ${s.droppedVideoFrames} of ${s.totalVideoFrames} video frames dropped (allowed ${allowed})`);
}

export function errorSummary(s) {
  const errors = s.report.errors;
  if (errors.length === 0) return 'no hls.js errors';
  return `${errors.length} non-fatal hls.js errors: ${errors.map((e) => `${e.details}${e.url ? ` ${e.url.replace(/^.*\//, '')}` : ''}`).join(', ')}`;
}

// Plays onair's HLS output with hls.js in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) and checks what the real player reports.
//
//   node tests/browser/hls-playback.mjs        (from anywhere; `npm ci` in tests/browser first)
//
// Cases: (a) MPEG-TS VOD with 1 s segments, (b) fMP4 VOD, (c) LL-HLS live (`--low-latency
// --realtime`) while the packager is still running; (d) rtmp-ts-live and (e) rtmp-ll-live: ffmpeg
// publishes over RTMP to the `server` example and hls.js plays its HLS origin (rtmp-live.mjs);
// (f) rtmp-ll-signed: the same with signed playback URLs only (`--sign-key`, examples/sign);
// (g) rtmp-ladder-live and (h) rtmp-ladder-shed: a 1080p publisher transcoded into a ladder,
// hls.js switching renditions when told to, and staying up when the server sheds the one it
// plays; (i) rtmp-dvr-live: `--dvr 60`, hls.js seeking 30 s back into a live stream and playing
// from there. BROWSER_CASES=REGEX runs only the cases whose name matches.
// Media is served from loopback origins and the page from another, so CORS is exercised. Prints one line of numbers per case; exits
// non-zero on the first failed check. Environment: CHROMIUM (browser path), BROWSER_TEST_TIMEOUT
// (limit in seconds for everything after the build, default 300).

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { chromium } from 'playwright-core';
import {
  CheckFailed, check, checkQuality, children, elapsed, errorSummary, fmt, here, killChildren, log,
  play, root, run, waitFor, wanted,
} from './harness.mjs';
import { rtmpLiveCases } from './rtmp-live.mjs';

const work = join(root, 'target', 'browser');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const runLimitMs = Number(process.env.BROWSER_TEST_TIMEOUT || 300) * 1000;

let browser = null;
const servers = [];

// ---- inputs and packaging ----------------------------------------------------------------

// Small frames keep software decoding cheap, so a busy 2-core machine drops no frames.
const SIZE = '320x180';

// H.264 (1 s GOP) + AAC from lavfi, cached: regenerated only when missing.
function testInput(seconds) {
  const file = join(work, `input-${seconds}s-${SIZE}.flv`);
  if (!existsSync(file)) {
    const tmp = `${file}.tmp`;
    run('ffmpeg', ['-nostdin', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=${SIZE}:rate=30`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
      '-f', 'flv', tmp]);
    renameSync(tmp, file);
  }
  return file;
}

// 1080p30 H.264 (1 s GOP) + AAC, cached: what the ladder cases publish.
function ladderInput(seconds) {
  const file = join(work, `input-${seconds}s-1080p.flv`);
  if (!existsSync(file)) {
    const tmp = `${file}.tmp`;
    run('ffmpeg', ['-nostdin', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '5M',
      '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-bf', '0',
      '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
      '-f', 'flv', tmp]);
    renameSync(tmp, file);
  }
  return file;
}

// Builds the package, server, full_pipeline and sign examples (debug, wherever cargo's target dir is; a no-op when
// they are fresh, as after `cargo test --workspace`) and returns their paths by name.
function buildExamples(names) {
  const args = ['build', '--quiet', '--locked', '--message-format=json'];
  for (const name of names) args.push('--example', name);
  const out = run('cargo', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const built = {};
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && names.includes(msg.target?.name) && msg.executable) {
      built[msg.target.name] = msg.executable;
    }
  }
  for (const name of names) {
    if (!built[name]) throw new Error(`cargo build did not report the ${name} example executable`);
  }
  return built;
}

function freshDir(name) {
  const dir = join(work, 'out', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

// ---- HTTP: media origin (CORS, blocking playlist reload) and page origin ----------------------

const contentTypes = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.m4v': 'video/mp4',
  '.bin': 'application/octet-stream',
  '.key': 'application/octet-stream',
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

// Is segment `msn` (and part `part` of it, when given) in this media playlist yet? RFC 8216bis
// 6.2.5.2: a blocking reload is answered once the playlist holds it (or the stream has ended).
function playlistHas(text, msn, part) {
  if (text.includes('#EXT-X-ENDLIST')) return true;
  const seq = Number((/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text) || [])[1] || 0);
  const lines = text.split('\n');
  let segments = 0;
  let partsAfterLast = 0;
  for (const line of lines) {
    if (line.startsWith('#EXTINF:')) { segments += 1; partsAfterLast = 0; }
    else if (line.startsWith('#EXT-X-PART:')) partsAfterLast += 1;
  }
  const lastComplete = seq + segments - 1;
  if (msn <= lastComplete) return true;
  if (msn === lastComplete + 1 && part !== null) return partsAfterLast > part;
  return false;
}

const requestLog = [];

function mediaServer(base) {
  return createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const cors = {
      'Access-Control-Allow-Origin': req.headers.origin || '*',
      'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
      'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || '*',
      'Vary': 'Origin',
    };
    if (req.method === 'OPTIONS') { res.writeHead(204, cors); res.end(); return; }
    const file = normalize(join(base, decodeURIComponent(url.pathname)));
    if (!file.startsWith(base + sep)) { res.writeHead(403, cors); res.end(); return; }
    requestLog.push({ path: `${url.pathname}${url.search}`, origin: req.headers.origin || null });
    const type = contentTypes[extname(file)] || 'application/octet-stream';
    // A live playlist may not exist yet, a hinted part may still be on its way: wait a little.
    const live = url.pathname.includes('live');
    let body = await waitFor(() => readFile(file).catch(() => null), live ? 4000 : 0);
    if (body && extname(file) === '.m3u8' && url.searchParams.has('_HLS_msn')) {
      const msn = Number(url.searchParams.get('_HLS_msn'));
      const part = url.searchParams.has('_HLS_part') ? Number(url.searchParams.get('_HLS_part')) : null;
      body = await waitFor(async () => {
        const text = await readFile(file, 'utf8').catch(() => null);
        return text !== null && playlistHas(text, msn, part) ? Buffer.from(text) : null;
      }, 6000) || body;
    }
    if (!body) { res.writeHead(404, cors); res.end(); return; }
    res.writeHead(200, { ...cors, 'Content-Type': type, 'Content-Length': body.length,
      'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

function pageServer() {
  const files = {
    '/': [join(here, 'player.html'), contentTypes['.html']],
    '/hls.js': [join(here, 'node_modules', 'hls.js', 'dist', 'hls.js'), contentTypes['.js']],
  };
  return createServer((req, res) => {
    const entry = files[new URL(req.url, 'http://x').pathname];
    if (!entry) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': entry[1], 'Cache-Control': 'no-store' });
    res.end(readFileSync(entry[0]));
  });
}

function listen(server) {
  servers.push(server);
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res(server.address().port));
  });
}

async function main() {
  mkdirSync(work, { recursive: true });
  check(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (scripts/setup.sh installs Debian's chromium)`);
  const vodInput = testInput(8);
  const liveInput = testInput(16);
  const ladderSource = ladderInput(75);
  const { package: packager, server, full_pipeline: pipeline, sign } = buildExamples(['package', 'server', 'full_pipeline', 'sign']);
  log(`browser: inputs, packager and server ready (${elapsed()} s)`);
  armRunLimit();

  const outRoot = join(work, 'out');
  rmSync(outRoot, { recursive: true, force: true });
  const tsVod = freshDir('ts-vod');
  run(packager, [vodInput, tsVod, '--vod', '--segment', '1']);
  const fmp4Vod = freshDir('fmp4-vod');
  run(packager, [vodInput, fmp4Vod, '--vod', '--segment', '1', '--fmp4']);

  const mediaPort = await listen(mediaServer(outRoot));
  const pagePort = await listen(pageServer());
  const media = `http://127.0.0.1:${mediaPort}`;
  const pageOrigin = `http://127.0.0.1:${pagePort}`;

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  log(`browser: Chromium ${browser.version()} up (${elapsed()} s)`);

  for (const [name, dir] of [['ts-vod', tsVod], ['fmp4-vod', fmp4Vod]].filter(([n]) => wanted(n))) {
    const t0 = Date.now();
    // Through the master playlist, so hls.js also sets its buffers up from the measured CODECS.
    const { s } = await play(browser, pageOrigin, `${media}/${name}/master.m3u8`, { vodSeconds: 8, timeoutMs: 30000 });
    const level = s.report.levels[0];
    check(s.report.levels.length === 1 && level.videoCodec && level.audioCodec && level.width === 320,
      `${name}: hls.js read the master playlist as ${JSON.stringify(s.report.levels)}`);
    checkQuality(name, s);
    check(Math.abs(s.duration - 8) < 0.5, `${name}: duration ${s.duration} s for an 8 s input`);
    check(s.totalVideoFrames >= 8 * 30 - 10, `${name}: ${s.totalVideoFrames} video frames shown of the input's 240`);
    check(s.report.live === false, `${name}: hls.js took the VOD playlist for live`);
    log(`browser ${name}: hls.js ${s.report.hlsVersion}, master ${level.videoCodec},${level.audioCodec} ${level.bitrate} bit/s, played ${fmt(s.currentTime)} of ${fmt(s.duration)} s `
      + `in ${fmt((Date.now() - t0) / 1000, 1)} s, frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, `
      + `${s.report.fragsBuffered} fragments, ${errorSummary(s)} (${dir})`);
  }

  if (wanted('ll-live')) {
    // (c) LL-HLS live: the packager runs at wall-clock speed while the browser plays.
    const llLive = freshDir('ll-live');
    const child = spawn(packager, [liveInput, llLive, '--low-latency', '--realtime', '--segment', '1', '--part', '0.334'],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let childErr = '';
    child.stderr.on('data', (d) => { childErr += d; });
    const playlist = join(llLive, 'index.m3u8');
    // hls.js wants a few segments before the live edge; start it once two are listed.
    const ready = await waitFor(() => existsSync(playlist)
      && (readFileSync(playlist, 'utf8').match(/#EXTINF:/g) || []).length >= 2, 10000, 50);
    check(ready, `ll-live: packager wrote no playlist with 2 segments in 10 s: ${childErr}`);
    const t0 = Date.now();
    const { s, startTime, latencies } = await play(browser, pageOrigin, `${media}/ll-live/index.m3u8`, { liveSeconds: 4, timeoutMs: 20000 });
    check(child.exitCode === null, `ll-live: packager ended before playback advanced 4 s (input is 16 s): ${childErr}`);
    checkQuality('ll-live', s);
    check(s.report.live === true, 'll-live: hls.js did not see a live playlist');
    check(s.report.parts > 0, 'll-live: hls.js saw no EXT-X-PART in the playlist');
    check(s.lowLatencyMode, 'll-live: hls.js left low-latency mode');
    check(latencies.length > 0, 'll-live: hls.latency never reported');
    const liveRequests = requestLog.filter((r) => r.path.startsWith('/ll-live/'));
    const blocking = liveRequests.filter((r) => r.path.includes('_HLS_msn=')).length;
    const partsFetched = liveRequests.filter((r) => /\/seg\d+\.\d+\.m4s/.test(r.path)).length;
    const segmentsFetched = liveRequests.filter((r) => /\/seg\d+\.m4s/.test(r.path)).length;
    if (process.env.BROWSER_TEST_VERBOSE) log(liveRequests.map((r) => r.path).join('\n'));
    check(partsFetched > 0, `ll-live: hls.js fetched no partial segments (${segmentsFetched} whole ones)`);
    check(s.report.canBlockReload, 'll-live: hls.js did not see CAN-BLOCK-RELOAD=YES');
    const latency = latencies[latencies.length - 1];
    const meanLatency = latencies.reduce((a, b) => a + b, 0) / latencies.length;
    check(latency < 6, `ll-live: latency ${fmt(latency)} s, more than 6 s with 1 s segments and 0.334 s parts`);
    log(`browser ll-live: hls.js ${s.report.hlsVersion}, live, ${s.report.parts} parts (target ${fmt(s.report.partTarget, 3)} s), `
      + `blocking reloads ${blocking}, fetched ${partsFetched} parts + ${segmentsFetched} segments, played ${fmt(startTime)} -> ${fmt(s.currentTime)} s in ${fmt((Date.now() - t0) / 1000, 1)} s, `
      + `latency ${fmt(latency)} s (mean ${fmt(meanLatency)}, target ${fmt(s.targetLatency)}), `
      + `frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, ${errorSummary(s)}`);
    const exited = await waitFor(() => child.exitCode !== null, 20000, 100);
    check(exited && child.exitCode === 0, `ll-live: packager exit ${child.exitCode}: ${childErr}`);
    check(readFileSync(playlist, 'utf8').includes('#EXT-X-ENDLIST'), 'll-live: no EXT-X-ENDLIST after the input ended');
    const crossOrigin = requestLog.filter((r) => r.origin === pageOrigin).length;
    check(crossOrigin === requestLog.length && crossOrigin > 0,
      `media requests with the page's Origin: ${crossOrigin} of ${requestLog.length}`);
  }

  // (d), (e): live over RTMP through the server example's HLS origin.
  await rtmpLiveCases({ browser, pageOrigin, serverPath: server, pipelinePath: pipeline, signPath: sign, ladderInput: ladderSource });
  log(`browser: all cases passed in ${elapsed()} s (${requestLog.length} cross-origin media requests from ${pageOrigin} to ${media}, and the RTMP cases' to the server example)`);
}

// Bounds everything after the build (which cargo bounds itself): a hung player or packager
// fails the run instead of stalling it.
let limit = null;
function armRunLimit() {
  limit = setTimeout(() => {
    process.stderr.write(`browser: FAILED: run exceeded ${runLimitMs / 1000} s after the build\n`);
    killChildren();
    process.exit(1);
  }, runLimitMs);
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  process.stderr.write(`browser: FAILED: ${e instanceof CheckFailed ? e.message : e.stack || e}\n`);
} finally {
  if (limit) clearTimeout(limit);
  killChildren();
  if (browser) await browser.close().catch(() => {});
  for (const server of servers) server.close();
}
process.exit(code);

// The live path end to end: ffmpeg publishes a lavfi test source over RTMP at real time to the
// `server` example, whose HLS origin packages it as it arrives; hls.js in Chromium plays it from
// the origin, cross-origin (the page comes from the test's own static server).
//
// Cases: pipeline-ts-live (examples/full_pipeline: onair's own encoder publishing its synthetic
// camera, TS), rtmp-ts-live (`--hls ts --segment 1`, hls.js in its classic mode), rtmp-ll-live
// (`--hls ll`, LL-HLS with hls.js's lowLatencyMode), rtmp-ll-signed (`--hls ll --sign-key`:
// hls.js plays a master URL signed by examples/sign, every request it makes carries the token;
// an expired or tampered URL is refused 403) and rtmp-dvr-live (`--dvr 60`: 40 s into the stream
// the viewer seeks 30 s back and hls.js plays from there). Each watches ~6 s of playback and checks
// that it keeps pace with the wall clock, decodes frames and, for LL-HLS, fetches parts with
// blocking playlist reloads; the live latency is printed (hls.js's own estimate, and the wall
// clock against the playhead's EXT-X-PROGRAM-DATE-TIME).

import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import {
  check, checkQuality, children, errorSummary, fmt, log, play, root, run, sleep, waitFor, wanted,
} from './harness.mjs';

const WATCH_SECONDS = 6;

// `count` ports free on loopback now (held together so they differ, then released for the
// server to bind).
async function freePorts(count) {
  const held = [];
  for (let i = 0; i < count; i += 1) {
    const server = createServer();
    await new Promise((res, rej) => { server.once('error', rej); server.listen(0, '127.0.0.1', res); });
    held.push(server);
  }
  const ports = held.map((s) => s.address().port);
  await Promise.all(held.map((s) => new Promise((res) => s.close(res))));
  return ports;
}

function canConnect(port) {
  return new Promise((res) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); res(true); });
    socket.once('error', () => res(false));
  });
}

// Starts `cmd` as a child that dies with the run, keeping the tail of what it prints.
function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  child.output = '';
  const keep = (d) => { child.output = (child.output + d).slice(-6000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return child;
}

const running = (child) => child.exitCode === null && child.signalCode === null;

async function stop(child, signal, ms) {
  if (running(child)) child.kill(signal);
  const t0 = Date.now();
  const status = await Promise.race([child.exited, sleep(ms).then(() => null)]);
  if (status === null) child.kill('SIGKILL');
  children.delete(child);
  return { status, seconds: (Date.now() - t0) / 1000 };
}

const count = (text, re) => (text.match(re) || []).length;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const last = (xs) => xs[xs.length - 1];

// One case: server with `hlsArgs`, ffmpeg publishing, hls.js watching. Returns the numbers.
// With `selfPublishing`, `binary` is examples/full_pipeline, which publishes its own camera
// through onair's encoder (no ffmpeg). With `signKey`, the server serves signed URLs only and
// hls.js plays the URL that examples/sign makes. `publish(url)` gives ffmpeg's arguments
// (default: a 640x360 lavfi source encoded live); `entry` is the playlist hls.js opens
// (default the master when signed, else index.m3u8); `watch` passes `watchSeconds`, `step`,
// `stopWhen` and `timeoutMs` on to `play`; `expected(error)` marks the hls.js errors (and
// failed requests) a case provokes on purpose; `seekedBy()` says how far (seconds) the case
// moved the playhead itself, for the check that playback kept pace with the wall clock; the
// player opens once the playlist lists `joinAt` segments.
async function liveCase({ browser, pageOrigin, serverPath, signPath }, name, hlsArgs, lowLatency,
  { binary = serverPath, selfPublishing = false, afterPlay = null, signKey = null, publish = null,
    entry = null, watch = {}, expected = () => false, seekedBy = () => 0, joinAt = 3 } = {}) {
  const t0 = Date.now();
  const [rtmpPort, httpPort] = await freePorts(2);
  const signArgs = signKey ? ['--sign-key', signKey] : [];
  const server = start(binary, ['--rtmp', `127.0.0.1:${rtmpPort}`, '--http', `127.0.0.1:${httpPort}`, ...hlsArgs, ...signArgs],
    { NO_COLOR: '1', RUST_LOG: 'info' });
  let ffmpeg = null;
  const publisher = () => ffmpeg || server;
  const outputs = () => `\n--- server:\n${server.output}\n--- ffmpeg:\n${ffmpeg ? ffmpeg.output : '(not started)'}`;
  try {
    const up = await waitFor(async () => running(server)
      && await canConnect(rtmpPort) && await canConnect(httpPort), 10000, 50);
    check(up, `${name}: server not listening on ${rtmpPort} and ${httpPort} within 10 s${outputs()}`);
    // Bounded by -t as well as killed at the end: it outlives the ~10 s this case needs.
    if (!selfPublishing) {
      const url = `rtmp://127.0.0.1:${rtmpPort}/live/browser`;
      ffmpeg = start('ffmpeg', publish ? publish(url) : ['-nostdin', '-v', 'error', '-re',
        '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
        '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '30',
        '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac', '-f', 'flv', url]);
    }
    const origin = `http://127.0.0.1:${httpPort}`;
    // signed: the stream's folder with the token, under which every URL of the stream is
    const media = signKey
      ? run(signPath, ['--key', signKey, '--ttl', '600', `${origin}/live/browser/master.m3u8`]).trim().replace(/\/master\.m3u8$/, '')
      : `${origin}/live/browser`;
    // Join as a viewer would a running stream: once the playlist lists three segments (the
    // hold-back of three target durations that hls.js keeps behind the live edge).
    let playlist = '';
    const joinLimit = 9000 + 1000 * joinAt;
    const ready = await waitFor(async () => {
      if (!running(publisher())) return 'the publisher exited';
      const r = await fetch(`${media}/index.m3u8`).catch(() => null);
      playlist = r && r.ok ? await r.text() : '';
      return count(playlist, /#EXTINF:/g) >= joinAt ? 'ready' : null;
    }, joinLimit, 100);
    check(ready === 'ready',
      `${name}: no playlist with ${joinAt} segments within ${joinLimit / 1000} s (${ready || 'timed out'}); last: ${JSON.stringify(playlist)}${outputs()}`);

    const watchSeconds = watch.watchSeconds ?? WATCH_SECONDS;
    const opened = entry ?? (signKey ? 'master.m3u8' : 'index.m3u8');
    const result = await play(browser, pageOrigin, `${media}/${opened}`,
      { watchSeconds, lowLatency, timeoutMs: 20000, ...watch });
    const { s, startSample, watchedSeconds, latencies, wallLatencies, requests } = result;
    check(running(publisher()), `${name}: the publisher stopped while the browser played${outputs()}`);
    checkQuality(name, s, expected);
    check(s.report.live === true, `${name}: hls.js did not see a live playlist`);
    const advanced = s.currentTime - startSample.currentTime + seekedBy();
    check(advanced >= watchedSeconds - 2,
      `${name}: playback advanced ${fmt(advanced)} s in ${fmt(watchedSeconds)} s of wall time (paused ${s.paused}, readyState ${s.readyState})`);
    check(s.totalVideoFrames > 100, `${name}: ${s.totalVideoFrames} video frames decoded in ${fmt(watchedSeconds)} s at 30 frames/s`);
    check(latencies.length > 0, `${name}: hls.latency never reported`);
    check(wallLatencies.length > 0, `${name}: hls.playingDate never set (no EXT-X-PROGRAM-DATE-TIME?)`);

    // Every media request crossed origins: answered, and allowed by CORS. Those still open when
    // the page closed (a held blocking reload or preload hint) have no answer yet.
    const mediaRequests = requests.filter((r) => r.url.startsWith(media));
    const open = mediaRequests.filter((r) => r.status === null).length;
    const refused = mediaRequests.filter((r) => r.status !== null && (r.status !== 200 || r.allowOrigin !== '*')
      && !(r.allowOrigin === '*' && expected({ url: r.url, status: r.status })));
    check(mediaRequests.length > open && refused.length === 0,
      `${name}: ${refused.length} of ${mediaRequests.length} media requests not answered 200 with ACAO *: ${JSON.stringify(refused.slice(0, 5))}`);
    if (process.env.BROWSER_TEST_VERBOSE) log(mediaRequests.map((r) => `${r.status} ${r.url}`).join('\n'));
    // a signed stream: nothing was asked of the origin outside the token's folder
    const outside = requests.filter((r) => r.url.startsWith(`${origin}/`) && !r.url.startsWith(`${media}/`));
    check(outside.length === 0, `${name}: requests outside ${media}/: ${JSON.stringify(outside.slice(0, 5))}`);
    const paths = mediaRequests.map((r) => new URL(r.url).pathname + new URL(r.url).search);

    const extra = afterPlay ? await afterPlay({ browser, media, origin, signPath, signKey, outputs }) : null;

    // Stop the publisher, then the server as an operator would; it should leave promptly.
    if (ffmpeg) await stop(ffmpeg, 'SIGKILL', 2000);
    const stopped = await stop(server, 'SIGTERM', 8000);
    check(stopped.status !== null && stopped.status.code === 0,
      `${name}: server did not exit cleanly on SIGTERM within 8 s: ${JSON.stringify(stopped.status)}${outputs()}`);
    return { s, startSample, advanced, watchedSeconds, latencies, wallLatencies, paths, open, seconds: (Date.now() - t0) / 1000, stopped, extra, serverOutput: server.output };
  } finally {
    if (ffmpeg) await stop(ffmpeg, 'SIGKILL', 2000);
    await stop(server, 'SIGKILL', 2000);
  }
}

// Both measures: hls.js's estimate from the playlist, and the whole chain (publisher to screen)
// as the page's clock against the server's PROGRAM-DATE-TIME stamps (one machine, one clock).
function checkLatency(name, r, bound) {
  const byHls = last(r.latencies);
  const byClock = last(r.wallLatencies);
  check(byHls < bound && byClock < bound,
    `${name}: live latency ${fmt(byHls)} s by hls.js, ${fmt(byClock)} s by the wall clock; ${bound} s or more is too far behind`);
}

function latencyText(r) {
  return `latency ${fmt(last(r.latencies))} s by hls.js (mean ${fmt(mean(r.latencies))}, target ${fmt(r.s.targetLatency)}), `
    + `${fmt(last(r.wallLatencies))} s by the wall clock against PROGRAM-DATE-TIME (mean ${fmt(mean(r.wallLatencies))})`;
}

function playedText(r) {
  return `played ${fmt(r.startSample.currentTime)} -> ${fmt(r.s.currentTime)} s (+${fmt(r.advanced)} s in ${fmt(r.watchedSeconds, 1)} s of wall time)`;
}

// The page a user opens (`/live/KEY/` of the origin, hls.js served by the origin itself):
// the video must play, i.e. its time advance by 2 s or more.
async function ownPlayerPage({ browser, media }) {
  const page = await browser.newPage();
  try {
    const t0 = Date.now();
    await page.goto(`${media}/`);
    const start = await page.waitForFunction(() => {
      const v = document.querySelector('video');
      return v && v.currentTime > 0 ? v.currentTime : null;
    }, null, { timeout: 15000 }).then((h) => h.jsonValue());
    const played = await page.waitForFunction((t) => {
      const v = document.querySelector('video');
      return v.currentTime >= t + 2 ? v.currentTime : null;
    }, start, { timeout: 10000 }).then((h) => h.jsonValue());
    const hlsJs = await page.evaluate(() => (window.Hls ? window.Hls.version : 'native'));
    // the page's quality picker: `auto` and each rendition of the master; what plays, shown
    const picker = await page.evaluate(() => ({
      options: [...document.querySelectorAll('#quality option')].map((o) => o.textContent),
      playing: document.getElementById('playing').textContent,
    }));
    return `played ${fmt(start)} -> ${fmt(played)} s (hls.js ${hlsJs} from the origin, ${fmt((Date.now() - t0) / 1000, 1)} s after opening), `
      + `quality picker ${JSON.stringify(picker.options)}, showing "${picker.playing}"`;
  } finally {
    await page.close();
  }
}

// A signed stream refuses what is not signed by its key, or no longer valid: 403, never cached.
// Its own player page plays under the token too.
async function refusedUnsigned(ctx) {
  const { media, origin, signPath, signKey } = ctx;
  const expired = run(signPath, ['--key', signKey, '--ttl', '0', '--window', '0', `${origin}/live/browser/master.m3u8`]).trim();
  const token = media.slice(media.lastIndexOf('/') + 1);
  const last = token.slice(-1);
  const tampered = `${media.slice(0, -1)}${last === 'A' ? 'B' : 'A'}/master.m3u8`;
  const foreignKey = run(signPath, ['--key', `${signKey}-other`, '--ttl', '600', `${origin}/live/browser/master.m3u8`]).trim();
  await sleep(1000); // the expired URL's second has passed
  const answers = [];
  for (const [what, url] of [['expired', expired], ['tampered', tampered], ['another key', foreignKey],
    ['unsigned', `${origin}/live/browser/master.m3u8`], ['unsigned list', `${origin}/`]]) {
    const r = await fetch(url);
    check(r.status === 403 && r.headers.get('cache-control') === 'no-store',
      `rtmp-ll-signed: ${what} ${url} answered ${r.status} (Cache-Control ${r.headers.get('cache-control')}), not 403 no-store`);
    answers.push(what);
  }
  return `${answers.length} refused 403 no-store (${answers.join(', ')}); its own player page under the token ${await ownPlayerPage(ctx)}`;
}

export async function rtmpLiveCases(ctx) {
  if (wanted('pipeline-ts-live')) {
    // What `scripts/dev run` shows: examples/full_pipeline's own camera, encoded by onair's
    // encoder, published over RTMP to its server and served by its origin (TS, 1 s segments).
    const name = 'pipeline-ts-live';
    const r = await liveCase(ctx, name, ['--hls', 'ts', '--size', '640x360', '--kbps', '1000', '--seconds', '60', '--key', 'browser'],
      false, { binary: ctx.pipelinePath, selfPublishing: true, afterPlay: ownPlayerPage });
    const segments = r.paths.filter((p) => /\.ts$/.test(p)).length;
    check(segments > 0, `${name}: hls.js fetched no .ts segments`);
    // full_pipeline's default ladder at 640x360 is source,240p: auto and two renditions
    check(/"auto","240p [^"]*","360p [^"]*"/.test(r.extra) && /showing "playing \d+p/.test(r.extra),
      `${name}: the player page's quality picker: ${r.extra}`);
    // HOLD-BACK is three target durations (3 s), a segment more, and slack for a busy machine.
    checkLatency(name, r, 6);
    log(`browser ${name}: hls.js ${r.s.report.hlsVersion}, live TS from onair's encoder over RTMP, ${playedText(r)}, ${latencyText(r)}, `
      + `fetched ${segments} segments + ${r.s.report.levelLoads} playlists, frames ${r.s.totalVideoFrames} decoded / ${r.s.droppedVideoFrames} dropped, `
      + `${errorSummary(r.s)}, pipeline stopped in ${fmt(r.stopped.seconds)} s, case took ${fmt(r.seconds, 1)} s; `
      + `its own player page ${r.extra}`);
  }
  if (wanted('rtmp-ts-live')) {
    const name = 'rtmp-ts-live';
    const r = await liveCase(ctx, name, ['--hls', 'ts', '--segment', '1'], false);
    const blocking = r.paths.filter((p) => p.includes('_HLS_msn=')).length;
    const segments = r.paths.filter((p) => /\.ts$/.test(p)).length;
    check(segments > 0, `${name}: hls.js fetched no .ts segments`);
    // HOLD-BACK is three target durations; a segment more, and slack for a busy machine.
    checkLatency(name, r, 6);
    check(blocking === 0, `${name}: hls.js sent ${blocking} blocking reloads to a playlist without CAN-BLOCK-RELOAD`);
    log(`browser ${name}: hls.js ${r.s.report.hlsVersion}, live TS from RTMP, ${playedText(r)}, ${latencyText(r)}, `
      + `fetched ${segments} segments + ${r.s.report.levelLoads} playlists, frames ${r.s.totalVideoFrames} decoded / ${r.s.droppedVideoFrames} dropped, `
      + `${errorSummary(r.s)}, server stopped in ${fmt(r.stopped.seconds)} s, case took ${fmt(r.seconds, 1)} s`);
  }
  if (wanted('rtmp-ll-live')) {
    const name = 'rtmp-ll-live';
    const r = await liveCase(ctx, name, ['--hls', 'll'], true);
    const { s } = r;
    const blocking = r.paths.filter((p) => p.includes('_HLS_msn=')).length;
    const parts = r.paths.filter((p) => /-\d+\.\d+\.m4s$/.test(p)).length;
    const segments = r.paths.filter((p) => /-\d+\.m4s$/.test(p)).length;
    check(s.lowLatencyMode, `${name}: hls.js left low-latency mode`);
    check(s.report.canBlockReload, `${name}: hls.js did not see CAN-BLOCK-RELOAD=YES`);
    check(s.report.parts > 0, `${name}: hls.js saw no EXT-X-PART in the playlist`);
    check(parts > 0, `${name}: hls.js fetched no parts (${segments} whole segments)`);
    check(blocking > 0, `${name}: hls.js made no blocking playlist reload (_HLS_msn)`);
    // PART-HOLD-BACK is three part targets (1 s); generous for a busy machine.
    checkLatency(name, r, 4);
    log(`browser ${name}: hls.js ${s.report.hlsVersion}, live LL-HLS from RTMP, ${s.report.parts} parts listed (target ${fmt(s.report.partTarget, 3)} s), `
      + `blocking reloads ${blocking} (held open at the end: ${r.open}), fetched ${parts} parts + ${segments} segments, ${playedText(r)}, ${latencyText(r)}, `
      + `frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, ${errorSummary(s)}, server stopped in ${fmt(r.stopped.seconds)} s, case took ${fmt(r.seconds, 1)} s`);
  }
  if (wanted('rtmp-ll-signed')) {
    const name = 'rtmp-ll-signed';
    const r = await liveCase(ctx, name, ['--hls', 'll'], true, { signKey: 'browser-test-secret', afterPlay: refusedUnsigned });
    const { s } = r;
    const blocking = r.paths.filter((p) => p.includes('_HLS_msn=')).length;
    const parts = r.paths.filter((p) => /-\d+\.\d+\.m4s$/.test(p)).length;
    const inits = r.paths.filter((p) => /\.mp4$/.test(p)).length;
    const signed = r.paths.filter((p) => /\/live\/browser\/t\.\d+\.[A-Za-z0-9_-]{43}\//.test(p)).length;
    check(s.report.levels.length === 1, `${name}: hls.js read ${s.report.levels.length} levels from the signed master`);
    check(parts > 0 && blocking > 0 && inits > 0,
      `${name}: hls.js fetched ${parts} parts, ${inits} init segments, ${blocking} blocking reloads under the token`);
    check(signed === r.paths.length, `${name}: ${r.paths.length - signed} of ${r.paths.length} requests without the token`);
    checkLatency(name, r, 4);
    log(`browser ${name}: hls.js ${s.report.hlsVersion}, signed master URL from examples/sign, ${r.paths.length} requests all under the token `
      + `(${blocking} blocking reloads, ${parts} parts, ${inits} init segments), ${playedText(r)}, ${latencyText(r)}, `
      + `frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, ${errorSummary(s)}, case took ${fmt(r.seconds, 1)} s; ${r.extra}`);
  }
  if (wanted('rtmp-dvr-live')) await dvrCase(ctx);
  await ladderCases(ctx);
}

// DVR: the server keeps 60 s in the live playlist (`--dvr 60`); a viewer joins once the stream
// has been live 40 s, playing at the live edge, then seeks 30 s back, and hls.js plays from
// there: segments from half a minute ago it never fetched before, whose PROGRAM-DATE-TIME
// shows how far back the picture is.
async function dvrCase(ctx) {
  const name = 'rtmp-dvr-live';
  const publish = (url) => ['-nostdin', '-v', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '90',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-f', 'flv', url];
  let seek = null;
  let after = null;
  const r = await liveCase(ctx, name, ['--hls', 'ts', '--segment', '1', '--dvr', '60'], false, {
    publish,
    joinAt: 40,
    seekedBy: () => (seek ? seek.from - seek.to : 0),
    watch: {
      watchSeconds: 80,
      timeoutMs: 90000,
      step: async ({ page, s, advanced }) => {
        if (!seek) {
          if (advanced < 2) return;
          // how much of the stream the playlist lists: all of it, until it is 60 s long
          const listed = await page.evaluate(() => {
            const level = window.hls.levels[window.hls.currentLevel];
            return level && level.details ? level.details.totalduration : 0;
          });
          if (listed >= 40) {
            seek = await page.evaluate(() => {
              const video = document.getElementById('video');
              const from = video.currentTime;
              video.currentTime = from - 30;
              return { from, to: from - 30, listed: window.hls.levels[window.hls.currentLevel].details.totalduration,
                latency: window.hls.latency, wall: Date.now() };
            });
          }
          return;
        }
        // samples taken before the seek say nothing of it
        if (s.now <= seek.wall) return;
        if (process.env.BROWSER_TEST_VERBOSE) {
          log(`${name}: playhead ${fmt(s.currentTime)} s, ${fmt((s.now - s.playingDate) / 1000)} s behind, hls.js latency ${fmt(s.latency)} s`);
        }
        if (!after && s.currentTime >= seek.to + 1 && s.playingDate !== null) {
          after = { behind: (s.now - s.playingDate) / 1000, latency: s.latency, wall: Date.now() };
        }
      },
      stopWhen: ({ s }) => seek !== null && s.now > seek.wall && s.currentTime >= seek.to + 8,
    },
  });
  const { s } = r;
  check(seek !== null, `${name}: the playlist never listed 40 s`);
  check(after !== null, `${name}: no playback after seeking back to ${fmt(seek.to)} s`);
  const played = s.currentTime - seek.to;
  check(played >= 8, `${name}: played ${fmt(played)} s after the seek`);
  // the picture on screen is from about 30 s (plus the live latency) ago, by the wall clock
  check(after.behind >= 29 && after.behind < 45,
    `${name}: ${fmt(after.behind)} s behind the wall clock after seeking 30 s back`);
  const segments = r.paths.map((p) => Number((/-(\d+)\.ts$/.exec(p) || [])[1])).filter(Number.isFinite);
  const newest = Math.max(...segments);
  const oldestAfterSeek = Math.min(...segments.slice(segments.findIndex((n, i) => i > 0 && n < segments[i - 1] - 20)));
  check(newest - oldestAfterSeek >= 25,
    `${name}: fetched segments ${JSON.stringify(segments)}: none from 30 s back`);
  checkQuality(name, s);
  log(`browser ${name}: hls.js ${s.report.hlsVersion}, --dvr 60: the playlist listed ${fmt(seek.listed, 1)} s, the player seeked `
    + `${fmt(seek.from)} -> ${fmt(seek.to)} s (latency ${fmt(seek.latency)} s before), played ${fmt(played)} s from there, `
    + `${fmt(after.behind)} s behind the wall clock by PROGRAM-DATE-TIME `
    + `(hls.js latency ${fmt(after.latency)} s), fetched segment ${oldestAfterSeek} after the live edge's ${newest}, `
    + `${s.report.stalls} waits (the seek's included), frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, ${errorSummary(s)}, case took ${fmt(r.seconds, 1)} s`);
}

// A level's index by height, or -1.
const levelOf = (page, height) => page.evaluate((h) => window.hls.levels.findIndex((l) => l.height === h), height);

// Tells hls.js to move to the level `height` high at the next fragment (a smooth switch: the
// buffer is kept), and returns that level and the playhead then.
const switchTo = (page, height) => page.evaluate((h) => {
  const i = window.hls.levels.findIndex((l) => l.height === h);
  window.hls.nextLevel = i;
  return { level: i, height: h, at: document.getElementById('video').currentTime };
}, height);

// The transcoding ladder live: ffmpeg publishes 1080p, the server makes
// source,720p,480p,360p, and hls.js plays the master playlist.
async function ladderCases(ctx) {
  const publish = (url) => ['-nostdin', '-v', 'error', '-re', '-i', ctx.ladderInput, '-c', 'copy', '-f', 'flv', url];
  if (wanted('rtmp-ladder-live')) {
    // Switching when told to: down to 360p, then up to 720p, each at a fragment boundary,
    // without a stall or a fatal error; latency with 1 s segments within 4 s.
    const name = 'rtmp-ladder-live';
    const asked = [];
    const r = await liveCase(ctx, name,
      ['--hls', 'ts', '--segment', '1', '--ladder', 'source,720p,480p,360p', '--max-lag', '30'], true,
      { publish, entry: 'master.m3u8', watch: {
        watchSeconds: 12,
        step: async ({ page, advanced }) => {
          if (advanced >= 2 && asked.length === 0) asked.push(await switchTo(page, 360));
          if (advanced >= 6 && asked.length === 1) asked.push(await switchTo(page, 720));
        },
      } });
    const { s } = r;
    if (process.env.BROWSER_TEST_VERBOSE) {
      log(`${name}: ${latencyText(r)}; switches ${JSON.stringify(s.report.levelSwitches)}; ${s.report.stalls} stalls; ${errorSummary(s)}`);
    }
    const heights = s.report.levels.map((l) => l.height).sort((a, b) => a - b);
    check(JSON.stringify(heights) === '[360,480,720,1080]',
      `${name}: hls.js read ${JSON.stringify(s.report.levels)} from the master`);
    check(s.report.levels.every((l) => l.videoCodec && l.audioCodec),
      `${name}: levels without CODECS: ${JSON.stringify(s.report.levels)}`);
    check(asked.length === 2, `${name}: played too little to switch twice (${JSON.stringify(asked)})`);
    for (const a of asked) {
      const done = s.report.levelSwitches.find((w) => w.level === a.level && w.at >= a.at);
      check(done, `${name}: asked for ${a.height}p at ${fmt(a.at)} s, hls.js switched ${JSON.stringify(s.report.levelSwitches)}`);
      a.done = done.at;
    }
    check(s.report.stalls === 0, `${name}: ${s.report.stalls} stalls`);
    check(s.report.errors.length === 0, `${name}: ${errorSummary(s)}`);
    checkLatency(name, r, 4);
    log(`browser ${name}: hls.js ${s.report.hlsVersion}, master of ${heights.join('/')}p, ${playedText(r)}, `
      + `switched to ${asked.map((a) => `${a.height}p (asked at ${fmt(a.at)} s, playing at ${fmt(a.done)} s)`).join(', then ')}, `
      + `${s.report.stalls} stalls, ${latencyText(r)}, frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, ${errorSummary(s)}`);
  }
  if (wanted('rtmp-ladder-shed')) {
    // A player on a rendition the server sheds: 1080p@4000k,720p,360p at preset medium is more
    // than two cores make in real time, so the server sheds 1080p, the costliest; hls.js, told
    // to play 1080p, finds its playlist gone (404) and goes on playing another rendition.
    const name = 'rtmp-ladder-shed';
    let asked = null;
    let shedAt = null;
    let server = null;
    const r = await liveCase(ctx, name,
      // admission would start it shorter: turned off, to show what overload does
      ['--hls', 'ts', '--segment', '1', '--ladder', '1080p@4000k,720p,360p', '--preset', 'medium', '--max-lag', '1',
        '--cpu-budget', '0'], false,
      { publish, entry: 'master.m3u8',
        // a shed rendition's playlist answers 404 (which ones were shed is checked below)
        expected: (e) => /\/\d+p\.m3u8$/.test(e.url || '')
          && (e.status === 404 || /status 404/.test(e.reason || '')),
        watch: {
        watchSeconds: 40,
        timeoutMs: 50000,
        step: async ({ page, s }) => {
          if (!asked && await levelOf(page, 1080) >= 0) asked = await switchTo(page, 1080);
          if (shedAt === null && s.report.levelSwitches.some((w) => w.height === 1080)
            && s.report.errors.some((e) => e.details === 'levelLoadError')) shedAt = s.currentTime;
        },
        stopWhen: ({ s }) => shedAt !== null && s.currentTime >= shedAt + 4,
      } });
    const { s } = r;
    server = r.serverOutput;
    const shed = [...server.matchAll(/shedding its most expensive rendition rendition=(\w+)/g)].map((m) => m[1]);
    check(shed[0] === '1080p', `${name}: the server did not shed 1080p first (${JSON.stringify(shed)}):\n${server}`);
    const gone = [...new Set(s.report.errors.filter((e) => e.details === 'levelLoadError')
      .map((e) => (/\/(\w+)\.m3u8$/.exec(e.url || '') || [])[1]))];
    check(gone.every((g) => shed.includes(g)), `${name}: hls.js lost ${JSON.stringify(gone)}, the server shed ${JSON.stringify(shed)}`);
    check(shedAt !== null, `${name}: hls.js never played 1080p and then lost its playlist: ${JSON.stringify(s.report.levelSwitches)} ${errorSummary(s)}`);
    const after = s.report.levelSwitches.filter((w) => w.at >= shedAt - 1);
    check(after.some((w) => w.height !== 1080),
      `${name}: hls.js did not move off 1080p: ${JSON.stringify(s.report.levelSwitches)}`);
    check(s.currentTime >= shedAt + 4, `${name}: playback stopped after the shed (${fmt(shedAt)} -> ${fmt(s.currentTime)} s)`);
    log(`browser ${name}: hls.js ${s.report.hlsVersion}, told to play 1080p at ${fmt(asked.at)} s; the server shed ${shed.join(', then ')} and hls.js saw the 1080p playlist go at ${fmt(shedAt)} s, `
      + `then played ${after.filter((w) => w.height !== 1080).map((w) => `${w.height}p`).join(', ')} to ${fmt(s.currentTime)} s; no fatal error, `
      + `${s.report.stalls} stalls, frames ${s.totalVideoFrames} decoded / ${s.droppedVideoFrames} dropped, ${errorSummary(s)}`);
  }
}

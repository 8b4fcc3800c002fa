// onair playback tokens, checked at an nginx edge (njs: Debian's libnginx-mod-http-js).
//
// The same check as the origin's (hls-packager's `verify_path`): a request path carries one
// segment `t.EXPIRES.SIGNATURE` right after the prefix it signs,
//
//   /live/demo/t.1767225600.pFDV__S3pdn8cai_NwDDPDJ_3zXhyAfHCdUgsxhbTXk/master.m3u8
//
// where SIGNATURE = base64url(HMAC-SHA256(key, "EXPIRES:/live/demo/")), unpadded, and the
// token is valid while the time (UNIX seconds) is before EXPIRES. The key comes from the
// environment variable ONAIR_SIGN_KEY (`env ONAIR_SIGN_KEY;` in nginx.conf lets it through).
//
// Exports, for `js_set`:
//   status(r)       "ok", or why the request is refused ("missing", "malformed", "expired",
//                   "signature", "no-key"); requests other than GET and HEAD are "ok" (they
//                   carry no media: CORS preflights and what the origin refuses itself)
//   unsignedPath(r) the path without its token: the cache key, the same for every token

const crypto = require('crypto');

const TOKEN = /^t\.(\d+)\.([A-Za-z0-9_-]{43})$/;

function rawPath(r) {
  const uri = r.variables.request_uri || '';
  const q = uri.indexOf('?');
  return q < 0 ? uri : uri.slice(0, q);
}

// { prefix, expires, signature, rest } of the first token segment, or null.
function split(path) {
  if (path.charAt(0) !== '/') return null;
  let start = 1;
  for (;;) {
    const end = path.indexOf('/', start);
    if (end < 0) return null;
    const m = TOKEN.exec(path.slice(start, end));
    if (m) {
      return { prefix: path.slice(0, start), expires: m[1], signature: m[2], rest: path.slice(end + 1) };
    }
    start = end + 1;
  }
}

// No '.', '..' or empty segments (the last segment of `rest` may be empty: a folder).
function validParts(prefix, rest) {
  const inner = prefix.slice(1, -1);
  if (prefix !== '/' && inner.split('/').some((s) => s === '' || s === '.' || s === '..')) return false;
  const segments = rest.split('/');
  return segments.every((s, i) => s !== '.' && s !== '..' && (s !== '' || i === segments.length - 1));
}

function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function status(r) {
  if (r.method !== 'GET' && r.method !== 'HEAD') return 'ok';
  const key = process.env.ONAIR_SIGN_KEY;
  if (!key) return 'no-key';
  const t = split(rawPath(r));
  if (!t) return 'missing';
  // the origin signs the canonical decimal form
  if (!validParts(t.prefix, t.rest) || (t.expires.length > 1 && t.expires.charAt(0) === '0')) {
    return 'malformed';
  }
  const expected = crypto.createHmac('sha256', key).update(`${t.expires}:${t.prefix}`).digest('base64url');
  if (!sameText(expected, t.signature)) return 'signature';
  if (Math.floor(Date.now() / 1000) >= Number(t.expires)) return 'expired';
  return 'ok';
}

function unsignedPath(r) {
  const path = rawPath(r);
  const t = split(path);
  return t ? t.prefix + t.rest : path;
}

export default { status, unsignedPath };

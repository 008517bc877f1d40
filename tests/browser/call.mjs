// Drives the voxgate call widget on a demo page in the system Chromium (playwright-core, no
// browser download) and prints one JSON summary line on stdout. Exit status 0 when the run met
// its mode's expectations, 1 otherwise (the summary says why), 2 on bad arguments.
//
//   node call.mjs BASE_URL DEMO_URL [options]
//     BASE_URL     the voxgate server, e.g. http://127.0.0.1:8080
//     DEMO_URL     a demo link URL (/demo?link=vdl_…), absolute or relative to BASE_URL
//   --mode call    (default) place a call: wait for `live`, a user and an assistant transcript
//                  line and agent audio above silence; screenshot; hang up; wait for `ended`
//   --mode error   click call and expect the widget to fail with a message matching --expect
//   --wav PATH     the fake microphone (a WAV file, looped by Chromium)
//   --screenshot PATH   PNG of the widget (mid-call in call mode, the error in error mode)
//   --expect REGEX      error mode: the message the widget must show
//   --deny-mic     error mode: no microphone permission (the prompt is denied)
//   --abort-token  error mode: the token request fails as if the network were down
//   --timeout S    overall limit in seconds (default 90)
//   --chromium PATH     browser binary (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function parseArgs(argv) {
  const opts = { mode: 'call', timeout: 90, chromium: '/usr/bin/chromium', positional: [] };
  const flags = new Set(['deny-mic', 'abort-token']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) { opts.positional.push(arg); continue; }
    const [name, inline] = arg.slice(2).split(/=(.*)/s);
    if (flags.has(name)) { opts[name] = true; continue; }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    opts[name] = value;
  }
  [opts.base, opts.demo] = opts.positional;
  if (!opts.base || !opts.demo) throw new Error('usage: node call.mjs BASE_URL DEMO_URL [options]');
  if (!['call', 'error'].includes(opts.mode)) throw new Error(`unknown --mode ${opts.mode}`);
  if (opts.mode === 'call' && !opts.wav) throw new Error('--mode call needs --wav');
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

const summary = {
  mode: opts.mode, ok: false, failure: null, states: [], transcript: [], maxRemoteLevel: 0,
  maxMicLevel: 0, lastError: null, message: null, endReason: null, callId: null, calls: 0,
  reconnects: 0, errors: [], screenshot: null, elapsedMs: 0,
};
const started = Date.now();
const profile = mkdtempSync(join(tmpdir(), 'voxgate-browser-'));
let browser = null;

function finish(code) {
  summary.elapsedMs = Date.now() - started;
  process.stdout.write(JSON.stringify(summary) + '\n');
  const close = browser ? browser.close().catch(() => {}) : Promise.resolve();
  close.finally(() => {
    rmSync(profile, { recursive: true, force: true });
    process.exit(code);
  });
}

const overall = setTimeout(() => {
  summary.failure = summary.failure || `timed out after ${opts.timeout} s`;
  finish(1);
}, Number(opts.timeout) * 1000);

function launchArgs() {
  const args = [
    '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync',
    '--disable-background-networking', '--disable-component-update',
    '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
  ];
  if (opts.wav) args.push(`--use-file-for-fake-audio-capture=${opts.wav}`);
  if (opts['deny-mic']) args.push('--deny-permission-prompts');
  else args.push('--use-fake-ui-for-media-stream');
  return args;
}

const widget = () => window.voxgateWidget && {
  state: window.voxgateWidget.state,
  states: window.voxgateWidget.states.slice(),
  transcript: window.voxgateWidget.transcript.map((line) => ({ role: line.role, text: line.text })),
  maxRemoteLevel: window.voxgateWidget.maxRemoteLevel,
  micLevel: window.voxgateWidget.micLevel,
  lastError: window.voxgateWidget.lastError,
  message: window.voxgateWidget.message,
  endReason: window.voxgateWidget.endReason,
  callId: window.voxgateWidget.callId,
  calls: window.voxgateWidget.calls,
  reconnects: window.voxgateWidget.reconnects,
};

async function snapshot(page) {
  const seen = await page.evaluate(widget).catch(() => null);
  if (!seen) return null;
  const { micLevel, ...rest } = seen;
  Object.assign(summary, rest);
  summary.maxMicLevel = Math.max(summary.maxMicLevel, micLevel || 0);
  return seen;
}

// Polls the widget until `done(state)` holds; fails at once when the widget reports an error.
async function until(page, what, done, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const seen = await snapshot(page);
    if (seen && done(seen)) return seen;
    if (seen && seen.state === 'error' && opts.mode === 'call') {
      throw new Error(`the widget failed while waiting for ${what}: ${seen.lastError}`);
    }
    if (Date.now() > deadline) throw new Error(`no ${what} within ${seconds} s (state ${seen && seen.state})`);
    await page.waitForTimeout(100);
  }
}

async function shoot(page) {
  if (!opts.screenshot) return;
  await page.locator('[data-voxgate-widget]').screenshot({ path: opts.screenshot });
  summary.screenshot = opts.screenshot;
}

async function placeCall(page) {
  await until(page, 'live', (w) => w.state === 'live', 30);
  await until(page, 'user and assistant transcript lines and agent audio', (w) =>
    w.transcript.some((l) => l.role === 'user' && l.text)
    && w.transcript.some((l) => l.role === 'assistant' && l.text)
    && w.maxRemoteLevel > 0.01, 60);
  await shoot(page);
  await page.locator('[data-voxgate-widget] button.hangup').click();
  await until(page, 'ended', (w) => w.state === 'ended', 10);
}

async function expectError(page) {
  const seen = await until(page, 'an error', (w) => w.state === 'error', 30);
  const shown = (await page.locator('[data-voxgate-widget] .msg').textContent()) || '';
  summary.message = shown;
  await shoot(page);
  const expected = new RegExp(opts.expect || '.', 'i');
  if (!expected.test(shown)) throw new Error(`the widget shows "${shown}", expected /${opts.expect}/`);
  if (shown !== seen.lastError) throw new Error('the message shown is not the last error');
}

async function run() {
  browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: launchArgs() });
  const context = await browser.newContext({ viewport: { width: 640, height: 640 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => summary.errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') summary.errors.push(`console: ${msg.text()}`); });
  if (opts['abort-token']) {
    await page.route('**/call-token**', (route) => route.abort('internetdisconnected'));
  }
  const response = await page.goto(new URL(opts.demo, opts.base).href);
  if (!response || response.status() !== 200) {
    throw new Error(`the demo page answered ${response && response.status()}`);
  }
  await page.locator('[data-voxgate-widget] button.call').click({ timeout: 10000 });
  if (opts.mode === 'call') await placeCall(page);
  else await expectError(page);
  await snapshot(page);
}

run().then(() => {
  summary.ok = true;
  clearTimeout(overall);
  finish(0);
}, (err) => {
  summary.failure = String(err && err.message || err);
  clearTimeout(overall);
  finish(1);
});

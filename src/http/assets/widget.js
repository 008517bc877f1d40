/* voxgate call widget. <script src="https://HOST/widget.js" data-agent="support"
   data-token-url="/token"></script>; optional data-server, data-label, data-reconnect-seconds.
   See docs/protocol.md. */
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script) return;
  const cfg = script.dataset;
  const agent = cfg.agent || '';
  const server = (cfg.server || new URL(script.src, location.href).origin).replace(/\/+$/, '');
  const graceMs = (Number(cfg.reconnectSeconds) || 10) * 1000;
  const api = {
    state: 'idle', states: ['idle'], transcript: [], lastError: null, message: '',
    micLevel: 0, remoteLevel: 0, maxRemoteLevel: 0, muted: false, callId: null,
    mode: null, agentSpeaking: false, calls: 0, reconnects: 0, endReason: null,
  };
  window.voxgateWidget = api;

  const CSS = `:host{all:initial;display:inline-block;font:14px/1.4 system-ui,sans-serif;color:#1d2330}
.vg{width:320px;border:1px solid #d5d9e2;border-radius:12px;padding:12px;background:#fff;box-sizing:border-box}
.head{display:flex;align-items:center;gap:8px;font-weight:600}
.dot{width:10px;height:10px;border-radius:50%;background:#9aa3b2}
.vg[data-state=connecting] .dot,.vg[data-state=reconnecting] .dot{background:#e7a325}
.vg[data-state=live] .dot{background:#1f9d55}.vg[data-state=error] .dot{background:#d3413b}
.meter{height:6px;background:#eef0f4;border-radius:3px;margin:10px 0;overflow:hidden}
.bar{height:100%;width:0;background:#1f9d55;transition:width 60ms linear}
.msg{min-height:1.2em;color:#5b6474;font-size:13px}.vg[data-state=error] .msg{color:#b3261e}
ol{list-style:none;margin:8px 0;padding:0;max-height:180px;overflow-y:auto}
li{margin:4px 0}li b{font-weight:600;margin-right:4px}
.buttons{display:flex;gap:8px}
button{font:inherit;border:0;border-radius:8px;padding:8px 14px;cursor:pointer;background:#2456d6;color:#fff}
button.hangup{background:#d3413b}button.mute{background:#5b6474}button[hidden]{display:none}`;
  const HTML = `<div class="vg" data-state="idle" part="widget">
<div class="head"><span class="dot"></span><span class="status">Ready to call</span></div>
<div class="meter" title="Microphone level"><div class="bar"></div></div>
<div class="msg" role="status" aria-live="polite"></div>
<ol class="transcript" aria-label="Transcript"></ol>
<div class="buttons"><button class="call" type="button"></button>
<button class="mute" type="button" hidden>Mute</button>
<button class="hangup" type="button" hidden>Hang up</button></div>
<audio class="remote" autoplay></audio></div>`;

  const host = document.createElement('div');
  host.setAttribute('data-voxgate-widget', agent);
  script.insertAdjacentElement('afterend', host);
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = HTML;
  try { // A constructed sheet passes a strict style-src; a <style> element may not.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (_) {
    const style = document.createElement('style');
    style.textContent = CSS;
    root.prepend(style);
  }
  const $ = (sel) => root.querySelector(sel);
  const ui = {
    box: $('.vg'), status: $('.status'), msg: $('.msg'), bar: $('.bar'), list: $('.transcript'),
    call: $('.call'), mute: $('.mute'), hangup: $('.hangup'), audio: $('.remote'),
  };
  ui.call.textContent = cfg.label || 'Call ' + (agent || 'agent');

  const LABELS = { idle: 'Ready to call', connecting: 'Connecting…', live: 'Live',
    reconnecting: 'Reconnecting…', ended: 'Call ended', error: 'Call failed' };
  const ENDED = {
    caller_hangup: 'You hung up.', agent_ended: 'The agent ended the call.',
    max_duration: 'The call reached its time limit.',
    provider_failure: 'The agent is unavailable right now. Please try again later.',
    transferred: 'The call was transferred.',
  };

  let mic = null; let ctx = null; let micAnalyser = null; let remoteAnalyser = null;
  let call = null; let meterTimer = null; let liveTimer = null; let dropTimer = null;
  let graceUntil = 0; let attempt = 0;

  const busy = () => ['connecting', 'live', 'reconnecting'].includes(api.state);
  function say(message) { api.message = message; ui.msg.textContent = message; }
  function setState(state, message) {
    if (api.state !== state) api.states.push(state);
    api.state = state;
    ui.box.dataset.state = state;
    ui.status.textContent = LABELS[state] || state;
    if (message !== undefined) say(message);
    const active = busy();
    ui.call.hidden = active; ui.mute.hidden = !active; ui.hangup.hidden = !active;
    if (!active) ui.call.textContent = api.calls ? 'Call again' : ui.call.textContent;
  }
  function fail(message) {
    api.lastError = message;
    teardown(true);
    setState('error', message);
  }

  class WidgetError extends Error {}
  function micMessage(err) {
    const name = (err && err.name) || '';
    if (/NotAllowed|PermissionDenied|Security/.test(name)) {
      return 'Microphone access was denied. Allow the microphone for this site in your browser settings, then call again.';
    }
    if (/NotFound|Overconstrained/.test(name)) return 'No microphone was found. Connect one and call again.';
    if (name === 'NotReadableError') return 'The microphone is in use by another application.';
    return 'The microphone could not be opened (' + (name || err) + ').';
  }
  async function describe(res, what) {
    let detail = res.statusText || '';
    try {
      const body = await res.json();
      if (body && body.error && body.error.message) detail = body.error.message;
    } catch (_) { /* not JSON */ }
    const err = new WidgetError(what + ': ' + detail + ' (HTTP ' + res.status + ')');
    err.fatal = res.status < 500; // a refusal: trying again will not help
    return err;
  }
  async function request(url, init, what) {
    try {
      return await fetch(url, init);
    } catch (_) {
      throw new WidgetError(navigator.onLine === false
        ? 'You are offline. Check your network connection and call again.'
        : 'Network error: cannot reach the call service (' + what + '). Check your connection and try again.');
    }
  }

  async function openMic() {
    if (mic) return;
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      throw new WidgetError('This browser cannot place calls here: calling needs a secure (https) page with microphone access.');
    }
    try {
      mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (err) {
      throw new WidgetError(micMessage(err));
    }
    ctx = ctx || new AudioContext();
    ctx.resume().catch(() => {});
    micAnalyser = analyse(mic);
    meterTimer = meterTimer || setInterval(measure, 50);
  }
  function analyse(stream) {
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(stream).connect(analyser);
    return analyser;
  }
  function peak(analyser) {
    const data = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(data);
    let max = 0;
    for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(data[i]));
    return max;
  }
  function measure() {
    if (micAnalyser) {
      api.micLevel = api.muted ? 0 : peak(micAnalyser);
      ui.bar.style.width = Math.min(100, Math.round(api.micLevel * 140)) + '%';
    }
    if (remoteAnalyser) {
      api.remoteLevel = peak(remoteAnalyser);
      api.maxRemoteLevel = Math.max(api.maxRemoteLevel, api.remoteLevel);
    }
  }

  async function fetchToken() {
    const res = await request(cfg.tokenUrl, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ agent }),
    }, 'call token');
    if (!res.ok) throw await describe(res, 'Could not get a call token');
    const body = await res.json().catch(() => ({}));
    if (!body.token) throw new WidgetError('Could not get a call token: the token URL answered without a token.');
    return body.token;
  }
  function gathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
      pc.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, 2000);
    });
  }

  async function placeCall() {
    const token = await fetchToken();
    if (!busy()) throw new WidgetError('cancelled');
    const pc = new RTCPeerConnection();
    const current = { pc, url: null, secret: null, over: false };
    call = current;
    const channel = pc.createDataChannel('events');
    channel.onmessage = (e) => { if (call === current) onEvent(e.data); };
    channel.onclose = () => { if (call === current && !current.over) dropped(); };
    pc.addTrack(mic.getAudioTracks()[0], mic);
    pc.ontrack = (e) => attachRemote(e.streams[0] || new MediaStream([e.track]));
    pc.onconnectionstatechange = () => { if (call === current) onConnection(pc.connectionState); };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (call !== current) { pc.close(); throw new WidgetError('cancelled'); }
    const res = await request(server + '/v1/calls/webrtc', {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
      body: pc.localDescription.sdp,
    }, 'call');
    if (res.status !== 201) throw await describe(res, 'Could not start the call');
    const where = res.headers.get('Location');
    current.url = where ? new URL(where, server + '/').href : null;
    current.secret = res.headers.get('X-Voxgate-Call-Secret');
    const answer = await res.text();
    if (call !== current) { pc.close(); end(current); throw new WidgetError('cancelled'); }
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    api.calls += 1;
  }
  function attachRemote(stream) {
    ui.audio.srcObject = stream;
    ui.audio.play().catch(() => {});
    remoteAnalyser = analyse(stream);
  }

  function onConnection(state) {
    if (state === 'connected') {
      clearTimeout(dropTimer); clearTimeout(liveTimer);
      graceUntil = 0;
      setState('live', api.state === 'reconnecting'
        ? 'Reconnected with a new call. Speak any time.' : 'You are live. Speak any time.');
    } else if (state === 'disconnected') {
      clearTimeout(dropTimer);
      dropTimer = setTimeout(() => { if (call && call.pc.connectionState !== 'connected') dropped(); }, 2000);
    } else if (state === 'failed') {
      dropped();
    }
  }
  function onEvent(text) {
    let m;
    try { m = JSON.parse(text); } catch (_) { return; }
    if (m.type === 'started') api.callId = m.call_id;
    else if (m.type === 'mode') api.mode = m.mode;
    else if (m.type === 'agent_speaking') api.agentSpeaking = !!m.speaking;
    else if (m.type === 'transcript') addLine(m.role, m.text, m.final !== false);
    else if (m.type === 'error') api.lastError = m.message || m.code;
    else if (m.type === 'ended') {
      api.endReason = m.reason;
      if (call) call.over = true;
      teardown(false);
      setState('ended', ENDED[m.reason] || 'The call ended.');
    }
  }
  function addLine(role, text, final) {
    const last = api.transcript[api.transcript.length - 1];
    if (last && last.role === role && !last.final) {
      last.text = text; last.final = final;
      ui.list.lastChild.lastChild.textContent = text;
    } else {
      api.transcript.push({ role, text, final });
      const li = document.createElement('li');
      const who = document.createElement('b');
      who.textContent = role === 'user' ? 'You:' : 'Agent:';
      li.append(who, document.createElement('span'));
      li.lastChild.textContent = text;
      ui.list.appendChild(li);
      while (ui.list.children.length > 50) ui.list.firstChild.remove();
    }
    ui.list.scrollTop = ui.list.scrollHeight;
  }

  function closeCall(notify) {
    const old = call;
    call = null;
    remoteAnalyser = null;
    if (!old) return;
    old.over = true;
    if (notify) end(old);
    try { old.pc.close(); } catch (_) { /* already closed */ }
  }
  function end(old) {
    if (!old.url || !old.secret) return;
    fetch(old.url, { method: 'DELETE', keepalive: true, headers: { Authorization: 'Bearer ' + old.secret } })
      .catch(() => {});
  }
  function teardown(notify) {
    clearTimeout(dropTimer); clearTimeout(liveTimer); clearInterval(meterTimer);
    meterTimer = null;
    graceUntil = 0;
    closeCall(notify);
    if (mic) mic.getTracks().forEach((t) => t.stop());
    mic = null; micAnalyser = null; api.micLevel = 0; api.muted = false;
    ui.mute.textContent = 'Mute'; ui.bar.style.width = '0'; ui.audio.srcObject = null;
  }

  async function connect(first) {
    try {
      await openMic();
      await placeCall();
      clearTimeout(liveTimer);
      const wait = first ? 15000 : Math.max(1000, graceUntil - Date.now());
      liveTimer = setTimeout(() => {
        if (api.state === 'live') return;
        if (api.state === 'reconnecting') return giveUp();
        fail('The audio connection could not be set up. A firewall may be blocking it.');
      }, wait);
    } catch (err) {
      if (api.state === 'ended' || api.state === 'error') return;
      const message = err instanceof WidgetError ? err.message : 'The call failed: ' + (err && err.message || err);
      if (!first && !err.fatal && Date.now() < graceUntil) {
        say('Connection lost. Reconnecting… (' + message + ')');
        closeCall(false);
        attempt += 1; // back off: 1 s, 2 s, 3 s… within the grace period
        setTimeout(() => { if (api.state === 'reconnecting') connect(false); }, 1000 * attempt);
        return;
      }
      if (!first && !err.fatal) return giveUp();
      fail(first ? message : 'The connection was lost and could not be restored. ' + message);
    }
  }
  function dropped() {
    if (api.state !== 'live' && api.state !== 'connecting') return;
    closeCall(true);
    api.reconnects += 1;
    attempt = 0;
    graceUntil = Date.now() + graceMs;
    setState('reconnecting', 'Connection lost. Placing a new call to reconnect…');
    connect(false);
  }
  function giveUp() {
    fail('The connection was lost and could not be restored within ' + graceMs / 1000 + ' s. Check your network and call again.');
  }

  function start() {
    if (busy()) return;
    if (!cfg.tokenUrl || !agent) return fail('The widget needs data-agent and data-token-url attributes.');
    api.transcript = []; api.lastError = null; api.endReason = null; api.maxRemoteLevel = 0;
    ui.list.textContent = '';
    setState('connecting', 'Asking for your microphone and connecting…');
    connect(true);
  }
  function hangUp() {
    if (!busy()) return;
    api.endReason = 'caller_hangup';
    teardown(true);
    setState('ended', ENDED.caller_hangup);
  }
  function toggleMute() {
    if (!mic) return;
    api.muted = !api.muted;
    mic.getAudioTracks().forEach((t) => { t.enabled = !api.muted; });
    ui.mute.textContent = api.muted ? 'Unmute' : 'Mute';
    say(api.muted ? 'Muted: the agent cannot hear you.' : 'You are live. Speak any time.');
  }

  ui.call.addEventListener('click', start);
  ui.hangup.addEventListener('click', hangUp);
  ui.mute.addEventListener('click', toggleMute);
  window.addEventListener('offline', () => { if (api.state === 'live') say('You are offline. Waiting for the network…'); });
  window.addEventListener('pagehide', () => { if (call) closeCall(true); });
  Object.assign(api, { start, hangUp, toggleMute });
})();

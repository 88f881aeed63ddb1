// The page that listens: record `listen_seconds` of 16 kHz audio from the microphone, and
// answer as every quads runtime does (quads.runtime.predict): the speech gate, silence cut
// around the speech, the exported QUADS model (log-mel inside the graph) run with
// onnxruntime-web on the model's context, "unknown" under the confidence threshold, the
// intent and its slots. Everything happens in this page; no audio or result leaves it.
"use strict";

const $ = (id) => document.getElementById(id);
let session = null;
let info = null;

function status(text) { $("status").textContent = text; }

async function loadModel() {
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  ort.env.wasm.numThreads = 1;
  info = await (await fetch("model.json")).json();
  session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  $("listen").disabled = false;
  $("listen").textContent = `Listen (${info.listen_seconds} s)`;
  status(`Model loaded: ${info.labels.length} intents, ${(info.bytes / 1e6).toFixed(2)} MB.`);
}

// Record `seconds` of mono audio at 16 kHz (the AudioContext resamples the microphone).
async function record(seconds) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext({ sampleRate: 16000 });
  const source = ctx.createMediaStreamSource(stream);
  const node = ctx.createScriptProcessor(4096, 1, 1);
  const need = Math.round(seconds * 16000);
  const audio = new Float32Array(need);
  let filled = 0;
  await new Promise((resolve) => {
    node.onaudioprocess = (e) => {
      const chunk = e.inputBuffer.getChannelData(0);
      const n = Math.min(chunk.length, need - filled);
      audio.set(chunk.subarray(0, n), filled);
      filled += n;
      drawWave(audio, filled);
      if (filled >= need) resolve();
    };
    source.connect(node);
    node.connect(ctx.destination);
  });
  node.disconnect();
  source.disconnect();
  stream.getTracks().forEach((t) => t.stop());
  await ctx.close();
  return audio;
}

function drawWave(audio, filled) {
  const c = $("wave"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  g.fillStyle = "#4a7fd6";
  const step = Math.ceil(audio.length / c.width);
  for (let x = 0; x < c.width; x++) {
    let peak = 0;
    for (let i = x * step; i < Math.min((x + 1) * step, filled); i++) peak = Math.max(peak, Math.abs(audio[i]));
    const h = peak * c.height;
    g.fillRect(x, (c.height - h) / 2, 1, Math.max(h, 0.5));
  }
}

// quads.runtime.audio.trim_silence: keep from the first to the last 10 ms frame within
// trim.range_db of the loudest one, plus trim.margin_seconds each side.
function trimSilence(audio, trim) {
  const hop = 160, n = Math.floor(audio.length / hop);
  if (!trim.enabled || n === 0) return audio;
  const rms = new Float64Array(n);
  let peak = 0;
  for (let f = 0; f < n; f++) {
    let sum = 0;
    for (let i = f * hop; i < (f + 1) * hop; i++) sum += audio[i] * audio[i];
    rms[f] = Math.sqrt(sum / hop);
    peak = Math.max(peak, rms[f]);
  }
  const floor = peak * Math.pow(10, -trim.range_db / 20);
  let first = -1, last = -1;
  for (let f = 0; f < n; f++) if (rms[f] > floor) { if (first < 0) first = f; last = f; }
  if (peak === 0 || first < 0) return audio;
  const margin = Math.round((trim.margin_seconds * 16000) / hop);
  const start = Math.max(0, first - margin) * hop;
  return audio.subarray(start, Math.min(audio.length, (last + 1 + margin) * hop));
}

// quads.runtime.gate.speech_seconds: seconds of 25 ms frames (10 ms hop) louder than
// gate.energy_floor_db (dBFS) whose power spectrum over 100 Hz-4 kHz (FFT bins 4..159 of
// the Hann-windowed frame) is not flat (geometric / arithmetic mean < gate.max_flatness).
function speechSeconds(audio, gate) {
  const FRAME = 400, HOP = 160, LO = 4, HI = 160;
  const hann = Float64Array.from({ length: FRAME }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (FRAME - 1)));
  const cos = new Float64Array(FRAME * (HI - LO)), sin = new Float64Array(FRAME * (HI - LO));
  for (let k = LO; k < HI; k++) {
    for (let i = 0; i < FRAME; i++) {
      cos[(k - LO) * FRAME + i] = Math.cos((2 * Math.PI * k * i) / FRAME);
      sin[(k - LO) * FRAME + i] = Math.sin((2 * Math.PI * k * i) / FRAME);
    }
  }
  const frame = new Float64Array(FRAME);
  let speech = 0;
  for (let start = 0; start + FRAME <= audio.length; start += HOP) {
    let sum = 0;
    for (let i = 0; i < FRAME; i++) { sum += audio[start + i] * audio[start + i]; frame[i] = audio[start + i] * hann[i]; }
    const level = 20 * Math.log10(Math.max(Math.sqrt(sum / FRAME), 1e-10));
    if (level <= gate.energy_floor_db) continue;
    let logSum = 0, powSum = 0;
    for (let k = 0; k < HI - LO; k++) {
      let re = 0, im = 0;
      for (let i = 0; i < FRAME; i++) { re += frame[i] * cos[k * FRAME + i]; im -= frame[i] * sin[k * FRAME + i]; }
      const power = re * re + im * im + 1e-20;
      logSum += Math.log(power);
      powSum += power;
    }
    const flatness = Math.exp(logSum / (HI - LO)) / (powSum / (HI - LO));
    if (flatness < gate.max_flatness) speech += 1;
  }
  return (speech * HOP) / 16000;
}

// Zero-padded (or cut) to the model's context.
function fitToContext(audio, seconds) {
  const out = new Float32Array(Math.round(seconds * 16000));
  out.set(audio.subarray(0, out.length));
  return out;
}

// The graph's probs: a softmax per head, the intents first, then each slot's values with
// "absent" (index 0) before them (quads.runtime.heads). Rejected ("no speech", "low
// confidence"): the intent is "unknown", with no slots.
async function classify(recorded) {
  const rejection = info.rejection;
  const passed = speechSeconds(recorded, rejection.gate) >= rejection.gate.min_speech_seconds;
  const audio = fitToContext(trimSilence(recorded, info.trim), info.context_seconds);
  const feeds = { audio: new ort.Tensor("float32", audio, [1, audio.length]) };
  const out = await session.run(feeds);
  const probs = Array.from(out.probs.data);
  const n = info.labels.length;
  const ranked = probs.slice(0, n).map((p, i) => [info.labels[i], p]).sort((a, b) => b[1] - a[1]);
  const slots = {};
  let start = n;
  for (const [name, values] of Object.entries(info.slots)) {
    const head = probs.slice(start, start + values.length + 1);
    const best = head.indexOf(Math.max(...head));
    if (best > 0) slots[name] = values[best - 1];
    start += values.length + 1;
  }
  const reason = !passed ? "no speech" : ranked[0][1] < rejection.threshold ? "low confidence" : "";
  return { ranked, slots, reason };
}

function show({ ranked, slots, reason }) {
  const [best, p] = ranked[0];
  const label = reason ? "unknown" : best;
  const said = reason ? {} : slots;
  const r = $("result");
  r.dataset.intent = label;
  r.dataset.best = best;
  r.dataset.reason = reason;
  r.dataset.probability = p.toFixed(4);
  r.dataset.slots = JSON.stringify(said);
  const lines = Object.entries(said).map(([k, v]) => `<div class="slot">${k}: <b>${v}</b></div>`);
  const why = reason ? `<div>${reason}: best guess ${best}</div>` : "";
  const rows = ranked.slice(0, 5).map(([l, q]) =>
    `<tr><td>${l}</td><td>${(100 * q).toFixed(1)} %</td><td class="bar"><div style="width:${(100 * q).toFixed(1)}%"></div></td></tr>`);
  r.innerHTML = `<div class="intent">${label}</div>${lines.join("")}${why}` +
    `<div>probability ${(100 * p).toFixed(1)} %</div><table>${rows.join("")}</table>`;
}

async function listen() {
  $("listen").disabled = true;
  try {
    status("Listening…");
    const audio = await record(info.listen_seconds);
    status("Thinking…");
    const t0 = performance.now();
    show(await classify(audio));
    status(`Done in ${(performance.now() - t0).toFixed(0)} ms, in this browser.`);
  } catch (e) {
    status(`Error: ${e.message || e}`);
    $("result").dataset.error = String(e.message || e);
  } finally {
    $("listen").disabled = false;
  }
}

$("listen").addEventListener("click", listen);
loadModel().then(() => {
  if (new URLSearchParams(location.search).has("auto")) listen();  // hands-free (tests)
}).catch((e) => { status(`Could not load the model: ${e.message || e}`); $("result").dataset.error = String(e); });

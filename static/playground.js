// The playground: connection (base, key, model), the parameter panel, and chat / completion over the /v1 API.
import { Answer } from "./answer.js";
import { sseData } from "./sse.js";

const cfg = JSON.parse(document.getElementById("page-config").textContent);
const $ = (id) => document.getElementById(id);
const KEY = "nanogpt.apiKey";
const MODEL = "nanogpt.model";
const VIEW = "nanogpt.view";

// localStorage throws in some private modes; the page still works, it just forgets
const store = {
  get(k) { try { return localStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch { /* not remembered */ } },
};

// ---- connection -------------------------------------------------------------------------------------------

// the API lives next to the page, so http://server:5002/ talks to http://server:5002/v1 (also behind a prefix)
$("api-base").value = new URL(cfg.api_path, location.href).href.replace(/\/+$/, "");
$("api-key").value = store.get(KEY) ?? cfg.default_key ?? "";

const apiBase = () => $("api-base").value.trim().replace(/\/+$/, "");
const apiKey = () => $("api-key").value.trim();

class ApiError extends Error {}

async function errorOf(res) {
  let message = res.statusText || "request failed";
  let param = null;
  try {
    const body = await res.json(); // OpenAI's shape: {"error": {"message", "type", "param", "code"}}
    if (body && body.error && body.error.message) ({ message, param } = body.error);
  } catch { /* not JSON: keep the status text */ }
  const what = res.status === 401 ? "API key refused" : param ? `Bad parameter '${param}'` : "API error";
  return new ApiError(`${what} (HTTP ${res.status}): ${message}`);
}

async function api(path, init = {}) {
  const key = apiKey();
  if (!key) throw new ApiError("Enter the API key (the server's MY_API_KEY) in the field at the top.");
  // fetch() refuses header values outside Latin-1 with a cryptic TypeError; say what is wrong instead
  if (/[^\x20-\x7e]/.test(key)) throw new ApiError("The API key may only hold printable ASCII characters.");
  const headers = { Authorization: `Bearer ${key}` };
  if (init.body) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(apiBase() + path, { ...init, headers });
  } catch (e) {
    if (e.name === "AbortError" || e.name === "TimeoutError") throw e;
    throw new ApiError(`Cannot reach the API at ${apiBase()} (${e.message}).`);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

function showError(e) {
  $("error").textContent = e instanceof ApiError ? e.message : `Error: ${e.message || e}`;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

let modelsLoad = 0; // only the newest listing may fill the picker
async function loadModels() {
  const ticket = ++modelsLoad;
  const select = $("model");
  try {
    const res = await api("/models", { signal: AbortSignal.timeout(15000) });
    const ids = (await res.json()).data.map((m) => m.id);
    if (ticket !== modelsLoad) return;
    const wanted = store.get(MODEL);
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (ids.includes(wanted)) select.value = wanted;
    clearError();
  } catch (e) {
    if (ticket !== modelsLoad) return;
    select.replaceChildren(new Option("(server default)", ""));
    showError(e);
  }
}

let keyTimer;
$("api-key").addEventListener("input", () => {
  store.set(KEY, apiKey());
  clearTimeout(keyTimer);
  keyTimer = setTimeout(loadModels, 400);
});
$("api-base").addEventListener("change", loadModels);
$("model").addEventListener("change", () => store.set(MODEL, $("model").value));

// ---- parameters -------------------------------------------------------------------------------------------

const params = [...document.querySelectorAll(".param[data-param]")].map((el) => ({
  name: el.dataset.param, el, slider: el.querySelector(".slider"), box: el.querySelector(".value"),
}));

function markChanged(p) {
  p.el.classList.toggle("changed", Number(p.box.value) !== cfg.defaults[p.name]);
}

for (const p of params) {
  // the number box is the live value and also takes exact values beyond the slider's span (top-k 5000)
  p.slider.addEventListener("input", () => { p.box.value = p.slider.value; markChanged(p); });
  p.box.addEventListener("input", () => { p.slider.value = p.box.value; markChanged(p); });
}

$("reset").addEventListener("click", () => {
  for (const p of params) {
    p.box.value = p.slider.value = cfg.defaults[p.name];
    markChanged(p);
  }
  $("seed").value = "";
  $("stop-seqs").value = "";
  $("json-schema").value = "";
});

const unescape = (s) => s.replace(/\\(n|t|\\)/g, (_, c) => ({ n: "\n", t: "\t", "\\": "\\" })[c]);

function sampling() {
  const out = {};
  for (const p of params) {
    const raw = p.box.value.trim();
    if (raw !== "") out[p.name] = Number(raw); // out of range is left to the API, whose message names it
  }
  const stops = $("stop-seqs").value.split("\n").filter((s) => s !== "").map(unescape);
  if (stops.length) out.stop = stops;
  const schema = $("json-schema").value.trim();
  if (schema) {
    let parsed;
    try {
      parsed = JSON.parse(schema);
    } catch (e) {
      throw new ApiError(`The JSON schema is not valid JSON: ${e.message}`);
    }
    out.response_format = { type: "json_schema", json_schema: { name: "playground", schema: parsed } };
  }
  return out;
}

function seedDigits() {
  const seed = $("seed").value.trim();
  if (!seed) return null;
  if (!/^-?\d+$/.test(seed)) throw new ApiError("The seed must be a whole number (or empty for random).");
  return BigInt(seed).toString(); // "007" is no JSON number
}

function requestJson(body, seed) {
  const json = JSON.stringify(body);
  // seeds go up to 2**64, past what a JS Number holds exactly: splice the digits into the JSON as they are
  return seed === null ? json : `${json.slice(0, -1)},"seed":${seed}}`;
}

// ---- views ------------------------------------------------------------------------------------------------

let view = "chat";
const history = []; // the chat so far: {role, content}; an assistant entry's content follows its kept candidate

function show(name) {
  view = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.setAttribute("aria-selected", tab.dataset.view === name);
  }
  $("view-chat").hidden = name !== "chat";
  $("view-completion").hidden = name !== "completion";
  $(`view-${name}`).querySelector(".slot").append($("actions"), $("error"));
  store.set(VIEW, name);
}
for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => show(tab.dataset.view));

function bubble(role, text) {
  const el = document.createElement("div");
  el.className = `turn ${role}`;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Model";
  el.append(who);
  if (text !== undefined) {
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    el.append(body);
  }
  $("messages").append(el);
  return el;
}

$("clear").addEventListener("click", () => {
  if (controller) return;
  if (view === "chat") {
    history.length = 0;
    for (const turn of $("messages").querySelectorAll(".turn")) turn.remove();
  } else {
    $("completion-output").replaceChildren();
  }
  clearError();
});

// ---- generation -------------------------------------------------------------------------------------------

let controller = null; // the AbortController of the request in flight

function setBusy(on) {
  $("generate").disabled = on;
  $("stop").disabled = !on;
  $("busy").hidden = !on;
}

function prepareChat(body) {
  const text = $("chat-input").value;
  if (!text.trim()) throw new ApiError("Type a message first.");
  const system = $("system").value.trim();
  body.messages = [...(system ? [{ role: "system", content: system }] : []), ...history,
    { role: "user", content: text }];
  const user = bubble("user", text);
  const turn = bubble("assistant");
  const entry = { role: "assistant", content: "" };
  let kept = 0; // the candidate the conversation continues from
  const answer = new Answer(turn, body.n ?? 1, {
    label: "Keep this one",
    onPick: (i, text) => { kept = i; entry.content = text; answer.mark(i); },
  });
  $("chat-input").value = "";
  turn.scrollIntoView({ block: "nearest" });
  return {
    path: "/chat/completions", answer, scroller: $("messages"),
    done(keep) { // keep the turn (a stopped one too); else put the message back in the box to resend
      if (!keep) {
        user.remove();
        turn.remove();
        $("chat-input").value = text;
        return;
      }
      entry.content = answer.text(kept);
      if (answer.cards.length > 1) answer.mark(kept);
      history.push({ role: "user", content: text }, entry);
    },
  };
}

function prepareCompletion(body) {
  body.prompt = $("prompt").value;
  $("completion-output").replaceChildren();
  const answer = new Answer($("completion-output"), body.n ?? 1, {
    label: "Append to prompt", always: true,
    onPick: (i, text) => { $("prompt").value += text; },
  });
  return { path: "/completions", answer, scroller: null, done() {} };
}

// Puts streamed text on the page once a frame, and keeps the conversation at the answer's end while the reader
// is there. Measuring the box after each token's text forced a layout per token: a fast model on a busy machine
// then left the page no time to paint or to take the click on Stop. Here the box is measured before the frame's
// text goes in (its layout is still clean), and scrolled once after.
function pageWriter(answer, box) {
  const pending = []; // [candidate, text] received, not yet shown
  let queued = false;
  const flush = () => {
    const atEnd = box && box.scrollHeight - box.scrollTop - box.clientHeight < 8;
    for (const [i, delta] of pending) answer.append(i, delta);
    pending.length = 0;
    if (atEnd) box.scrollTop = box.scrollHeight;
  };
  return {
    add(i, delta) {
      pending.push([i, delta]);
      if (!queued) {
        queued = true;
        requestAnimationFrame(() => { queued = false; flush(); });
      }
    },
    flush,
  };
}

async function generate() {
  if (controller) return;
  clearError();
  let json, job, body;
  try {
    body = { model: $("model").value || undefined, stream: true, stream_options: { include_usage: true },
      ...sampling() };
    const seed = seedDigits(); // before prepare*, which already puts the turn on the page
    job = view === "chat" ? prepareChat(body) : prepareCompletion(body);
    json = requestJson(body, seed);
  } catch (e) {
    showError(e);
    return;
  }
  const { answer } = job;
  const page = pageWriter(answer, job.scroller);
  controller = new AbortController();
  setBusy(true);
  answer.busy(true);
  const t = { t0: performance.now(), first: null, usage: null, stopped: false };
  let ok = false;
  try {
    const res = await api(job.path, { method: "POST", body: json, signal: controller.signal });
    for await (const data of sseData(res)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError(`Generation failed: ${chunk.error.message}`); // in-band, mid-stream
      if (chunk.usage) t.usage = chunk.usage;
      for (const c of chunk.choices || []) {
        const delta = job.path === "/completions" ? c.text : c.delta && c.delta.content;
        if (delta) {
          t.first ??= performance.now();
          page.add(c.index, delta);
        }
        if (c.finish_reason) answer.finish(c.index, c.finish_reason);
      }
    }
    ok = true;
  } catch (e) {
    if (e.name === "AbortError") t.stopped = ok = true;
    else showError(e);
  } finally {
    page.flush();
    t.end = performance.now();
    controller = null;
    setBusy(false);
    answer.busy(false);
    if (ok || !answer.empty) answer.stats(t);
    job.done(!answer.empty || (ok && !t.stopped)); // an error or a Stop before any text leaves nothing to keep
  }
}

function stop() {
  if (controller) controller.abort();
}

$("generate").addEventListener("click", generate);
$("stop").addEventListener("click", stop);
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault(); // Ctrl+Enter / Cmd+Enter, from any field
    generate();
  } else if (e.key === "Escape" && controller) {
    stop();
  }
});

if (/Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) {
  for (const k of document.querySelectorAll(".kbd-mod")) k.textContent = "⌘";
}
show(store.get(VIEW) === "completion" ? "completion" : "chat");
for (const p of params) markChanged(p);
loadModels();

// The annotation page: load a model, generate candidates side by side, pick the best (and worst), save; train
// on what was saved and watch the log and loss over the WebSocket. Model text only ever goes in as textContent.

const cfg = JSON.parse(document.getElementById("page-config").textContent);
const $ = (id) => document.getElementById(id);
const KEY = "nanogpt.apiKey"; // shared with the playground

const store = {
  get(k) { try { return localStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch { /* not remembered */ } },
};
$("api-key").value = store.get(KEY) ?? cfg.default_key ?? "";
const key = () => $("api-key").value.trim();

const state = { candidates: [], best: null, worst: null, context: [], message: "", chart: [], ws: null };

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

async function api(path, init = {}) {
  if (!key()) throw new Error("Enter the API key (the server's MY_API_KEY) at the top.");
  const headers = { Authorization: `Bearer ${key()}` };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { ...init, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const msg = body?.message ?? body?.error?.message ?? res.statusText;
    throw new Error(`${res.status === 401 ? "API key refused" : "Error"} (HTTP ${res.status}): ${msg}`);
  }
  return body;
}

async function busy(fn) {
  $("busy").hidden = false;
  showError("");
  try { return await fn(); } catch (e) { showError(e.message); } finally { $("busy").hidden = true; }
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

// ---- models and settings -----------------------------------------------------------------------------------

async function listModels() {
  const body = await api("/v1/models");
  const select = $("model");
  const keep = select.value || cfg.default_model;
  select.replaceChildren(...body.data.map((m) => el("option", { value: m.id, textContent: m.id })));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

function settings() {
  const num = (id) => Number($(id).value);
  return {
    model: $("model").value || undefined, mode: $("mode").value, num_responses: num("num-responses"),
    temperature: num("temperature"), top_p: num("top-p"), top_k: num("top-k"),
    repetition_penalty: num("repetition-penalty"), max_new_tokens: num("max-new-tokens"),
    enable_thinking: $("enable-thinking").checked, show_thinking: $("show-thinking").checked,
    system_prompt: $("system-prompt").value,
  };
}

async function refreshStatus() {
  const { data } = await api("/api/model/status");
  $("model-status").textContent = data.model_loaded ? `· loaded: ${data.model}` : data.model_loading ? "· loading…" : "· not loaded";
  $("generate").disabled = !data.model_loaded;
}

$("load").addEventListener("click", () => busy(async () => {
  $("model-status").textContent = "· loading…";
  await api("/api/model/load", { method: "POST", body: settings() });
  await refreshStatus();
}));
$("unload").addEventListener("click", () => busy(async () => {
  await api("/api/model/unload", { method: "POST" });
  await refreshStatus();
}));
$("mode").addEventListener("change", () => { $("conversation").hidden = $("mode").value !== "multi"; });

// ---- candidates --------------------------------------------------------------------------------------------

function renderCandidates() {
  const cards = state.candidates.map((c, i) => {
    const card = el("article", { className: "cand" });
    card.dataset.id = c.id;
    card.classList.toggle("best", state.best === i);
    card.classList.toggle("worst", state.worst === i);
    const best = el("button", { type: "button", className: "pick-best", textContent: "Best" });
    const worst = el("button", { type: "button", className: "pick-worst", textContent: "Worst" });
    best.addEventListener("click", () => pick("best", i));
    worst.addEventListener("click", () => pick("worst", i));
    card.append(el("header", {}, el("span", { className: "num", textContent: `#${c.id}` }), best, worst));
    if (c.thinking !== undefined) { // folded: the answer is what is judged first
      card.append(el("details", { className: "thinking" }, el("summary", { textContent: "thinking" }),
        el("div", { className: "text", textContent: c.thinking })));
    }
    card.append(el("div", { className: "text content", textContent: c.content }));
    return card;
  });
  $("candidates").replaceChildren(...cards);
  const single = $("mode").value === "single";
  $("save").disabled = state.best === null;
  $("hint").textContent = !state.candidates.length ? "" : state.best === null ? "Pick the best reply."
    : single && state.worst === null ? "Pick the worst too, or the first other reply counts as rejected." : "";
}

function pick(which, i) {
  const other = which === "best" ? "worst" : "best";
  state[which] = state[which] === i ? null : i;
  if (state[other] === i) state[other] = null;
  renderCandidates();
}

async function generate() {
  const message = $("message").value.trim();
  if (!message) return showError("Type a message first.");
  await busy(async () => {
    const body = await api("/api/generate", { method: "POST", body: { message, context: state.context } });
    Object.assign(state, { candidates: body.responses, best: null, worst: null, message });
    renderCandidates();
  });
}
$("generate").addEventListener("click", generate);
$("message").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !$("generate").disabled) { e.preventDefault(); generate(); }
});

$("save").addEventListener("click", () => busy(async () => {
  const mode = $("mode").value;
  const chosen = state.candidates[state.best];
  const record = { mode, human_input: state.message, chosen: chosen.content, chosen_thinking: chosen.thinking,
    context: state.context };
  if (mode === "single") {
    const worst = state.worst ?? state.candidates.findIndex((_, i) => i !== state.best);
    record.rejected = state.candidates[worst].content;
    record.rejected_thinking = state.candidates[worst].thinking;
  }
  const res = await api("/api/dataset/add", { method: "POST", body: record });
  if (mode === "multi") { // the conversation goes on with the chosen reply
    state.context = [...state.context, { role: "user", content: state.message }, { role: "assistant", content: chosen.content }];
    renderConversation();
  }
  Object.assign(state, { candidates: [], best: null, worst: null });
  $("message").value = "";
  renderCandidates();
  $("hint").textContent = res.message;
  await refreshCounts();
}));

function renderConversation() {
  $("turns").replaceChildren(...state.context.map((m) => el("div", { className: `turn-line ${m.role}` },
    el("span", { className: "who", textContent: m.role === "user" ? "You" : "Model" }), m.content)));
}
$("new-conversation").addEventListener("click", () => { state.context = []; renderConversation(); });

// ---- datasets ----------------------------------------------------------------------------------------------

async function refreshCounts() {
  const { data } = await api("/api/dataset/stats");
  $("count-preference").textContent = data.preference.count;
  $("count-roleplay").textContent = data.roleplay.count;
}

for (const button of document.querySelectorAll(".export")) {
  button.addEventListener("click", () => busy(async () => { // fetched with the key, then saved as a file
    const format = button.dataset.format;
    const res = await fetch(`/api/dataset/export?format=${format}`, { headers: { Authorization: `Bearer ${key()}` } });
    if (!res.ok) throw new Error(`Export failed (HTTP ${res.status})`);
    const link = el("a", { href: URL.createObjectURL(await res.blob()), download: `preference-${format}.jsonl` });
    link.click();
    URL.revokeObjectURL(link.href);
  }));
}

// ---- training ----------------------------------------------------------------------------------------------

const PROGRESS = /^step (\d+)\/(\d+) \| loss ([-\d.naif]+)/;

function addLog(entry) {
  const log = $("train-log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(`${entry.time ? entry.time.slice(11) + " " : ""}${entry.message}\n`);
  if (atEnd) log.scrollTop = log.scrollHeight;
  const m = PROGRESS.exec(entry.message);
  if (m) { state.chart.push([Number(m[1]), Number(m[3])]); drawChart(); }
}

function drawChart() {
  const canvas = $("loss-chart");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  canvas.dataset.points = state.chart.length;
  ctx.fillStyle = "#6b7280";
  ctx.font = "10px system-ui, sans-serif";
  if (!state.chart.length) { ctx.fillText("loss", 6, 12); return; }
  const xs = state.chart.map((p) => p[0]), ys = state.chart.map((p) => p[1]).filter(Number.isFinite);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys, Math.min(...ys) + 1e-6)];
  const X = (x) => pad + (x - x0) / (x1 - x0) * (w - 2 * pad), Y = (y) => h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad);
  ctx.fillText(`loss ${y1.toFixed(3)}`, 4, 12);
  ctx.fillText(y0.toFixed(3), 4, h - 6);
  ctx.fillText(`step ${x1}`, w - 60, h - 6);
  ctx.strokeStyle = "#2f5bd3";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  state.chart.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
  ctx.stroke();
}

function showTrainStatus(s) {
  const where = s.step ? ` · step ${s.step}/${s.total_steps ?? "?"}${s.loss != null ? ` · loss ${s.loss.toFixed(4)}` : ""}` : "";
  $("train-status").textContent = `${s.status}${s.model ? ` · ${s.model}` : ""}${where}`;
  $("train-start").disabled = s.running;
  $("train-stop").disabled = !s.running;
  if (!s.running && s.status === "done") listModels().catch(() => {}); // the new model is listed
}

function connectLogs() {
  if (state.ws || !key()) return;
  const url = new URL(`/ws/train/logs?key=${encodeURIComponent(key())}`, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  state.ws = ws;
  const ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send("ping"), 25000);
  ws.onopen = () => { $("ws-state").classList.add("live"); $("ws-state").textContent = "●"; };
  ws.onclose = () => { // reconnect: the server restarts, a proxy drops idle sockets
    clearInterval(ping);
    $("ws-state").classList.remove("live");
    $("ws-state").textContent = "○";
    state.ws = null;
    setTimeout(connectLogs, 3000);
  };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "history") {
      $("train-log").replaceChildren();
      state.chart = [];
      msg.logs.forEach(addLog);
      drawChart();
    } else if (msg.type === "log") addLog(msg);
    else if (msg.type === "status") showTrainStatus(msg);
    else if (msg.type === "heartbeat") $("ws-state").title = `live log connection (heartbeat ${msg.time ?? ""})`;
  };
}

$("train-start").addEventListener("click", () => busy(async () => {
  const body = { method: $("train-method").value, base_model: $("model").value || undefined,
    steps: Number($("train-steps").value), beta: Number($("train-beta").value) };
  if ($("train-lr").value) body.lr = Number($("train-lr").value);
  const res = await api("/api/train/start", { method: "POST", body });
  $("train-log").replaceChildren();
  state.chart = [];
  drawChart();
  showTrainStatus(res.data);
}));
$("train-stop").addEventListener("click", () => busy(async () => {
  await api("/api/train/stop", { method: "POST" });
}));

// ---- start -------------------------------------------------------------------------------------------------

async function start() {
  store.set(KEY, key());
  await busy(async () => {
    await Promise.all([listModels(), refreshStatus(), refreshCounts()]);
    showTrainStatus((await api("/api/train/status")).data);
    connectLogs();
  });
}
$("api-key").addEventListener("change", start);
drawChart();
if (key()) start(); else showError("Enter the API key (the server's MY_API_KEY) at the top.");

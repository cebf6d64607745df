// One answer on the page: n candidate cards side by side, filled as the stream arrives, and a stats line.
// Model text only ever goes in through Text nodes: generated "<img onerror=…>" stays text.

const template = document.getElementById("candidate-tpl");

export class Answer {
  // pick: {label, onPick(i, text)} adds a button to each card (chat: keep this candidate; completion: append)
  constructor(container, n, pick) {
    this.root = document.createElement("div");
    this.root.className = "answer-body";
    this.grid = document.createElement("div");
    this.grid.className = n > 1 ? "candidates multi" : "candidates";
    this.meta = document.createElement("div");
    this.meta.className = "meta muted";
    this.cards = [];
    for (let i = 0; i < n; i++) {
      const el = template.content.firstElementChild.cloneNode(true);
      el.querySelector(".label").textContent = n > 1 ? `#${i + 1}` : "";
      const text = document.createTextNode("");
      el.querySelector(".text").append(text);
      const button = el.querySelector(".pick");
      if (pick && (n > 1 || pick.always)) {
        button.textContent = pick.label;
        button.addEventListener("click", () => pick.onPick(i, text.data));
      } else {
        button.remove();
      }
      this.cards.push({ el, text, finish: el.querySelector(".finish") });
      this.grid.append(el);
    }
    this.root.append(this.grid, this.meta);
    container.append(this.root);
    this.chunks = 0;
  }

  append(i, delta) {
    const card = this.cards[i];
    if (!card || !delta) return;
    card.text.appendData(delta);
    card.el.classList.add("has-text");
    this.chunks += 1;
  }

  finish(i, reason) {
    const card = this.cards[i];
    if (card) card.finish.textContent = reason === "length" ? "hit max tokens" : reason;
  }

  text(i) {
    return this.cards[i] ? this.cards[i].text.data : "";
  }

  get empty() {
    return this.cards.every((c) => c.text.data === "");
  }

  mark(i) {
    this.cards.forEach((c, j) => c.el.classList.toggle("picked", i === j));
  }

  busy(on) {
    this.root.classList.toggle("streaming", on);
  }

  // times from performance.now(): t0 the request, first the first text, end the last byte
  stats({ t0, first, end, usage, stopped }) {
    const tokens = usage ? usage.completion_tokens : this.chunks; // a stopped stream has no usage chunk
    const parts = [`${usage ? "" : "≈"}${tokens} token${tokens === 1 ? "" : "s"}`];
    if (first !== null) {
      const secs = Math.max((end - first) / 1000, 0.001);
      parts.push(`${(tokens / secs).toFixed(1)} tok/s`);
      parts.push(`first token ${Math.round(first - t0)} ms`);
    }
    parts.push(`${((end - t0) / 1000).toFixed(2)} s`);
    if (usage) {
      parts.push(`prompt ${usage.prompt_tokens} + completion ${usage.completion_tokens} = ${usage.total_tokens}`);
    }
    if (stopped) parts.push("stopped");
    this.meta.textContent = parts.join(" · ");
  }
}

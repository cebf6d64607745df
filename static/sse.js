// Server-sent events read from a fetch() Response body, as the WHATWG spec parses them: EventSource cannot
// POST or send an Authorization header, so the page reads the stream itself.

const EOL = /\r\n|\r|\n/;

// Yield the data of each event ("[DONE]" included); comments (": keep-alive") and other fields are skipped.
export async function* sseData(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let m;
      while ((m = EOL.exec(buf)) !== null) {
        // a lone \r at the end may be the first half of \r\n split across two reads
        if (m[0] === "\r" && m.index === buf.length - 1) break;
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      }
    }
    if (data.length) yield data.join("\n"); // a last event without its blank line
  } finally {
    // after [DONE], an error or Stop: close the body so the server notices and frees the model's slot
    reader.cancel().catch(() => {});
  }
}

// The live stream: GET /events read with fetch() (EventSource cannot send an Authorization
// header), the server-sent-event lines parsed here. Reconnects alone, with a growing pause;
// a stream silent for longer than the server's keep-alive is treated as dead.

import { API, session } from "./api.js";

const QUIET_LIMIT_MS = 40000; // the server sends a comment at least every 15 s

export function listen({ onEvent, onState }) {
  let stopped = false;
  let controller = null;
  let retryMs = 500;
  let watchdog = null;

  function alive() {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => controller && controller.abort(), QUIET_LIMIT_MS);
  }

  async function readOnce() {
    controller = new AbortController();
    const response = await fetch(API + "/events", {
      headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" },
      cache: "no-store",
      signal: controller.signal,
    });
    if (response.status === 401) {
      stopped = true;
      session.onUnauthorized();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
    onState(true);
    retryMs = 500;
    alive();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let type = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      alive();
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) dispatch(type, data.join("\n"));
          type = "message";
          data = [];
        } else if (line.startsWith(":")) {
          // a keep-alive comment
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          if (field === "event") type = text;
          else if (field === "data") data.push(text);
          else if (field === "retry" && /^\d+$/.test(text)) retryMs = Number(text);
        }
      }
    }
  }

  function dispatch(type, text) {
    let payload;
    try {
      payload = JSON.parse(text);
    } catch {
      return; // not ours
    }
    onEvent(type, payload);
  }

  (async () => {
    while (!stopped) {
      try {
        await readOnce();
      } catch {
        // a network error or an abort: reconnect below
      }
      clearTimeout(watchdog);
      if (stopped) return;
      onState(false);
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, 5000);
    }
  })();

  return () => {
    stopped = true;
    clearTimeout(watchdog);
    if (controller) controller.abort();
  };
}

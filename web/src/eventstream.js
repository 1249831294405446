// The node's event stream (GET /api/v1/events/stream, Server-Sent Events,
// docs/EVENTS.md "The event stream"): one EventSource shared by every page
// that listens, opened while at least one listens. Each message is
// {"type": "new"|"update"|"end", "before", "after"}; the server only sends
// events of cameras the user may see. EventSource reconnects by itself with
// Last-Event-ID; a new one after an error resumes from the last id seen.
import { useEffect, useRef } from "preact/hooks";

const listeners = new Set();
let source = null;
let lastId = "";
let retry = 0;

function open() {
  if (source || !listeners.size || typeof EventSource === "undefined") return;
  const q = lastId ? `?last_event_id=${encodeURIComponent(lastId)}` : "";
  source = new EventSource(`/api/v1/events/stream${q}`);
  source.onmessage = (m) => {
    if (m.lastEventId) lastId = m.lastEventId;
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    for (const fn of listeners) fn(msg);
  };
  // A closed stream (the node restarted, or a 4xx such as an ended
  // session) is opened again after a pause; EventSource gives up on its
  // own after a non-200 answer.
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) return;
    source = null;
    clearTimeout(retry);
    retry = setTimeout(open, 3000);
  };
}

function close() {
  if (listeners.size) return;
  clearTimeout(retry);
  if (source) source.close();
  source = null;
}

// Calls fn(message) for every message while the component is mounted.
export function useEventStream(fn) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const l = (msg) => ref.current(msg);
    listeners.add(l);
    open();
    return () => {
      listeners.delete(l);
      close();
    };
  }, []);
}

// A tiny observable value with a Preact hook, instead of a state library:
// the app has two pieces of global state (the user and the route).
import { useEffect, useState } from "preact/hooks";

export function signal(initial) {
  const subs = new Set();
  return {
    _v: initial,
    get value() {
      return this._v;
    },
    set value(v) {
      this._v = v;
      for (const fn of subs) fn(v);
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

export function useSignal(s) {
  const [, set] = useState(0);
  useEffect(() => s.subscribe(() => set((n) => n + 1)), [s]);
  return s.value;
}

// Who is logged in, and what they may do. The server decides every access
// (a camera without permission is absent from lists and answers 404); the
// app only hides what would fail anyway.
import { signal } from "./signal.js";

export const user = signal(null); // {name, role, permissions} or null

export const isAdmin = () => user.value && user.value.role === "admin";
export const isOperator = () => user.value && (user.value.role === "admin" || user.value.role === "operator");

// Whether the user holds perm ("live", "recordings", "export", "ptz") on camera.
export function can(perm, camera) {
  const u = user.value;
  if (!u) return false;
  if (u.role === "admin") return true;
  const p = u.permissions || {};
  return [camera, "*"].some((c) => Array.isArray(p[c]) && p[c].includes(perm));
}

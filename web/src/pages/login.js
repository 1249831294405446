// The login page: POST /api/v1/login sets the session cookie and answers
// with the user.
import { useState } from "preact/hooks";
import { post } from "../api.js";
import { ErrorText } from "../components.js";
import { html } from "../html.js";
import { navigate } from "../router.js";
import { user } from "../session.js";

export function LoginPage() {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await post("/api/v1/login", { username: name, password }, { quiet401: true });
      user.value = r.user || r;
      navigate("/live");
    } catch (err) {
      setError(err.status === 401 ? new Error("Wrong user name or password.") : err);
    } finally {
      setBusy(false);
    }
  };

  return html`<main class="login">
    <form class="card" onSubmit=${submit}>
      <h1><img src="icon.svg" alt="" width="32" height="32" /> vigil</h1>
      <label>User<input name="username" autocomplete="username" value=${name} onInput=${(e) => setName(e.target.value)} required autofocus /></label>
      <label>Password<input name="password" type="password" autocomplete="current-password" value=${password}
        onInput=${(e) => setPassword(e.target.value)} required /></label>
      <${ErrorText} error=${error} />
      <button type="submit" disabled=${busy}>${busy ? "Logging in…" : "Log in"}</button>
    </form>
  </main>`;
}

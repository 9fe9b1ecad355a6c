// Sign-in. The stage's /config.json says how: {"auth": {"mode": "local"}} on the local stack (a
// demo-user picker; tokens from the local stack's dev signer), or {"auth": {"mode": "oidc",
// "authorization_endpoint", "token_endpoint", "client_id", "scope", "logout_endpoint"?}} in AWS
// (authorization code with PKCE against Cognito's hosted UI or the company's IdP).

const KEY = "loanleads.token";

export const session = {
  token: () => sessionStorage.getItem(KEY),
  set: (token) => sessionStorage.setItem(KEY, token),
  clear: () => sessionStorage.removeItem(KEY),
  claims() {
    const token = this.token();
    if (!token) return null;
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(decodeURIComponent(escape(atob(part))));
      return claims.exp && claims.exp * 1000 < Date.now() ? null : claims;
    } catch {
      return null;
    }
  },
};

let config = null;
export async function stageConfig() {
  if (!config) {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error("缺少站点配置 /config.json");
    config = await response.json();
  }
  return config;
}

/** Local stack only: the demo users and a token for one of them. */
export async function demoUsers() {
  const response = await fetch("/_local/users");
  return (await response.json()).items;
}

export async function signInDemo(user) {
  const response = await fetch(`/_local/token?user=${encodeURIComponent(user)}`, { method: "POST" });
  const data = await response.json();
  if (!response.ok) throw new Error(data?.error?.message || "登录失败");
  session.set(data.token);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function redirectUri() {
  return location.origin + location.pathname;
}

/** OIDC: go to the provider's sign-in page with a PKCE challenge. */
export async function signInOidc(auth) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(48)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("loanleads.pkce", JSON.stringify({ verifier, state, hash: location.hash }));
  const params = new URLSearchParams({ response_type: "code", client_id: auth.client_id, redirect_uri: redirectUri(),
    scope: auth.scope || "openid profile", state, code_challenge: challenge, code_challenge_method: "S256" });
  location.assign(`${auth.authorization_endpoint}?${params}`);
}

/** OIDC: back from the provider with ?code=&state=: exchange the code (with the verifier) for tokens. */
export async function completeOidc(auth) {
  const params = new URLSearchParams(location.search);
  if (!params.get("code")) return false;
  const saved = JSON.parse(sessionStorage.getItem("loanleads.pkce") || "{}");
  sessionStorage.removeItem("loanleads.pkce");
  history.replaceState(null, "", location.pathname + (saved.hash || "#/leads"));
  if (!saved.verifier || params.get("state") !== saved.state) throw new Error("登录状态校验失败，请重新登录");
  const response = await fetch(auth.token_endpoint, { method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: params.get("code"), client_id: auth.client_id,
      redirect_uri: redirectUri(), code_verifier: saved.verifier }) });
  const tokens = await response.json();
  if (!response.ok) throw new Error("登录失败：" + (tokens.error_description || tokens.error || response.status));
  session.set(tokens.id_token || tokens.access_token);  // the API checks aud (ID token) or client_id (access token)
  return true;
}

export async function signOut() {
  session.clear();
  const cfg = await stageConfig().catch(() => null);
  const auth = cfg?.auth;
  if (auth?.mode === "oidc" && auth.logout_endpoint) {
    const params = new URLSearchParams({ client_id: auth.client_id, logout_uri: redirectUri() });
    location.assign(`${auth.logout_endpoint}?${params}`);
  } else {
    location.hash = "#/signin";
  }
}

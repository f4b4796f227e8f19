// The console's only way to the server: the public GraphQL API with the user's own key.
// The key lives in sessionStorage: gone when the browser tab closes, never in a cookie
// or in localStorage.

const KEY = "jifen.key";
const ENDPOINT = new URL("../graphql", document.baseURI).href;
export const EXPORT_URL = new URL("../export/ledger.csv", document.baseURI).href;

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${session.key || ""}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (exc) {
    throw new ApiError("NETWORK", exc.message);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError("HTTP_" + response.status, response.statusText);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError((first.extensions && first.extensions.code) || "ERROR", first.message);
  }
  return body.data;
}

// A one-field mutation's payload; its userErrors are the caller's to show.
export async function mutate(query, variables) {
  const data = await gql(query, variables);
  return Object.values(data)[0];
}

export async function download(url) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${session.key || ""}` } });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message; } catch { /* not JSON */ }
    throw new ApiError("HTTP_" + response.status, message);
  }
  const name = /filename=([^;]+)/.exec(response.headers.get("content-disposition") || "");
  return { blob: await response.blob(), name: name ? name[1] : "ledger.csv" };
}

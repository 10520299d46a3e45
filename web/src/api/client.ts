/**
 * The typed client of the owner portal API: every path, parameter, body and response comes from
 * `schema.d.ts`, which openapi-typescript generates from docs/openapi.json (`make api-client`).
 * Web clients import this module; they never write fetch calls of their own.
 *
 *   const api = createApiClient({ baseUrl: "/api", getToken: () => session.accessToken });
 *   const { data, error, response } = await api.GET("/bills/{bill_id}", { params: { path: { bill_id } } });
 *   if (error) showError(error.code, error.message, requestIdOf(response));
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema";

export type { components, operations, paths } from "./schema";

/** The API's error body (API.md): `code` is stable and machine-readable, `message` is for people. */
export type ApiError = components["schemas"]["Error"];

export type ApiClient = Client<paths>;

/** The header the API answers every request with; quote it when reporting a failure. */
export const REQUEST_ID_HEADER = "X-Request-Id";

export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

export interface ApiClientOptions {
  /** Where the API is: "http://127.0.0.1:8000" under `make run`, or a same-origin prefix behind a proxy. */
  baseUrl: string;
  /** The current access token, read before each request; none (or empty) sends no Authorization header. */
  getToken?: TokenSource;
  /** A fetch of one's own (tests, server-side rendering); the global fetch by default. */
  fetch?: typeof globalThis.fetch;
}

/** Create the client; each request carries `Authorization: Bearer <token>` when `getToken` gives one. */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  if (options.getToken) {
    client.use(bearerToken(options.getToken));
  }
  client.use(errorsAsApiErrors);
  return client;
}

/** The request id of a response, or null when it has none (e.g. a proxy answered, or CORS hides it). */
export function requestIdOf(response: Response): string | null {
  return response.headers.get(REQUEST_ID_HEADER);
}

/** Whether a value has the shape of the API's error body. */
export function isApiError(value: unknown): value is ApiError {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const { code, message } = value as Record<string, unknown>;
  return typeof code === "string" && typeof message === "string";
}

function bearerToken(getToken: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const token = await getToken();
      if (token) {
        request.headers.set("Authorization", `Bearer ${token}`);
      }
      return request;
    },
  };
}

// The types promise that every failed response carries an ApiError. The API keeps that promise, but what
// stands in front of it may not (a gateway's HTML 502, an empty 504), so such a body is replaced with one
// that keeps it: code `http_<status>`, the status text as the message, the original headers kept.
const errorsAsApiErrors: Middleware = {
  async onResponse({ response }) {
    if (response.ok) {
      return undefined;
    }
    const text = await response.clone().text();
    if (isApiError(parseJson(text))) {
      return undefined;
    }
    const body: ApiError = {
      code: `http_${response.status}`,
      message: response.statusText || `The request failed with status ${response.status}.`,
    };
    const headers = new Headers(response.headers);
    headers.set("Content-Type", "application/json");
    headers.delete("Content-Length");
    return new Response(JSON.stringify(body), { status: response.status, statusText: response.statusText, headers });
  },
};

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

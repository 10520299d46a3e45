/**
 * Compile-time checks of the typed client, run by `npm run typecheck` (and so by `make test`); never executed.
 *
 * Each call below must compile; each line after `// @ts-expect-error` must NOT compile (tsc fails on an
 * expect-error line that compiles). They use paths that exist in docs/openapi.json; when the document gains
 * request and response schemas, regenerate (`make api-client`) and add checks of the new shapes here, in
 * the same two kinds: a correct call, and a wrong one under `// @ts-expect-error`.
 */
import { createApiClient, requestIdOf, type ApiError, type operations } from "./client";

/** True when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

/** The JSON body an operation takes, read from the generated schema (so callers' types follow the document). */
type JsonBody<Op extends keyof operations> = BodyOf<NonNullable<operations[Op]["requestBody"]>>;
type BodyOf<RequestBody> = [RequestBody] extends [never]
  ? never // the document declares no body (yet)
  : RequestBody extends { content: { "application/json": infer Body } } ? Body : never;

const api = createApiClient({ baseUrl: "http://127.0.0.1:8000", getToken: () => "access-token" });

export async function listBills(): Promise<string | null> {
  const { error, response } = await api.GET("/bills");
  // Failures are typed as the API's error body.
  const asError: ApiError | undefined = error;
  void asError;
  if (error) {
    const code: string = error.code;
    const message: string = error.message;
    const details: Record<string, unknown> | undefined = error.details;
    // @ts-expect-error the error body has no such field
    void error.status;
    void [code, message, details];
  }
  return requestIdOf(response);
}

export async function showBill(billId: string): Promise<void> {
  await api.GET("/bills/{bill_id}", { params: { path: { bill_id: billId } } });
  // @ts-expect-error the path parameter is required
  await api.GET("/bills/{bill_id}");
  // @ts-expect-error a path parameter of another name
  await api.GET("/bills/{bill_id}", { params: { path: { id: billId } } });
  // @ts-expect-error the path parameter is a string
  await api.GET("/bills/{bill_id}", { params: { path: { bill_id: 42 } } });
}

export async function signIn(body: JsonBody<"auth_login">): Promise<void> {
  const { data, error } = await api.POST("/auth/login", { body });
  if (error) {
    // The codes are those the document lists for login: `account_locked` and `captcha_required` ...
    const locked: typeof error.code = "account_locked";
    const captcha: typeof error.code = "captcha_required";
    // @ts-expect-error ... but never a payment's code
    const payment: typeof error.code = "bill_in_payment";
    void [locked, captcha, payment];
    return;
  }
  // Signed in (tokens), or a second factor is required (a challenge): the challenge is the one with an id.
  if ("challenge_id" in data) {
    const challenge: string = data.challenge_id;
    void challenge;
  }
  // @ts-expect-error a body of the wrong shape (a number account, no password)
  await api.POST("/auth/login", { body: { account: 42 } });
}

export async function wrongCalls(): Promise<void> {
  // @ts-expect-error no such path
  await api.GET("/bill");
  // @ts-expect-error no such method on the path (bills are read-only for owners)
  await api.DELETE("/bills");
  // @ts-expect-error /auth/login is POST only
  await api.GET("/auth/login");
  // @ts-expect-error a query parameter the operation does not declare
  await api.GET("/bills", { params: { query: { no_such_param: 1 } } });
  // @ts-expect-error getToken returns a string (or nothing), not a number
  createApiClient({ baseUrl: "/", getToken: () => 42 });
}

export async function health(): Promise<boolean> {
  const { response } = await api.GET("/health");
  return response.ok;
}

export async function replyToMessage(messageId: string): Promise<string | undefined> {
  const { data, error } = await api.POST("/messages/{message_id}/replies", {
    params: { path: { message_id: messageId } },
    body: { body: "谢谢，已收到" },
  });
  if (error) {
    // The codes are those the document lists for the route: a reply can answer `conflict` ...
    const closed: typeof error.code = "conflict";
    // @ts-expect-error ... but never a payment's code
    const payment: typeof error.code = "bill_in_payment";
    void [closed, payment];
    return undefined;
  }
  // Success bodies are typed from the response schema: the status is one of the message statuses.
  assertType<Equal<typeof data.status, "open" | "closed">>();
  // @ts-expect-error a field the message does not have
  void data.no_such_field;
  // @ts-expect-error a reply body must be text
  await api.POST("/messages/{message_id}/replies", { params: { path: { message_id: messageId } }, body: { body: 1 } });
  return data.replies[0]?.author_role;
}

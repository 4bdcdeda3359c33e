/**
 * Every error Omnibus raises, as tagged classes: Effect users match them with
 * `Effect.catchTag`, Promise users with `instanceof` or `err._tag`.
 * Messages never contain credentials: URLs pass through `redactUrl` first.
 */
import { TaggedError } from "./tagged-error.ts"

/** A routing key (publish side) that breaks AMQP topic rules. */
export class InvalidRoutingKey extends TaggedError("InvalidRoutingKey")<{
  readonly key: string
  readonly reason: string
}> {
  override get message() { return `invalid routing key ${JSON.stringify(this.key)}: ${this.reason}` }
}

/** A subscription pattern that breaks AMQP topic rules. */
export class InvalidPattern extends TaggedError("InvalidPattern")<{
  readonly pattern: string
  readonly reason: string
}> {
  override get message() { return `invalid pattern ${JSON.stringify(this.pattern)}: ${this.reason}` }
}

/** An option object that cannot be honoured (names the option). */
export class InvalidOptions extends TaggedError("InvalidOptions")<{
  readonly option: string
  readonly reason: string
}> {
  override get message() { return `invalid option ${this.option}: ${this.reason}` }
}

/** A connection URL that cannot be parsed or names no registered adapter. */
export class InvalidUrl extends TaggedError("InvalidUrl")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() { return `invalid broker URL ${this.url}: ${this.reason}` }
}

/** A payload larger than the transport's configured maximum. */
export class PayloadTooLarge extends TaggedError("PayloadTooLarge")<{
  readonly key: string
  readonly size: number
  readonly max: number
}> {
  override get message() { return `payload for ${this.key} is ${this.size} bytes, over the maximum of ${this.max}` }
}

/** The broker did not confirm a publish (nack, return, closed connection). */
export class PublishFailed extends TaggedError("PublishFailed")<{
  readonly key: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() { return `publish to ${this.key} failed: ${this.reason}` }
}

/** The bus (or its connection) is closed; nothing was sent. */
export class BusClosed extends TaggedError("BusClosed")<{
  readonly operation: string
}> {
  override get message() { return `bus is closed (${this.operation})` }
}

/** The broker could not be reached within the connect deadline. */
export class ConnectionFailed extends TaggedError("ConnectionFailed")<{
  readonly url: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() { return `cannot connect to ${this.url}: ${this.reason}` }
}

/** The broker refused the credentials. Never retried in a loop. */
export class AuthenticationFailed extends TaggedError("AuthenticationFailed")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() { return `authentication to ${this.url} failed: ${this.reason}` }
}

/** A broker-side refusal that is not about credentials (e.g. topology mismatch). */
export class BrokerError extends TaggedError("BrokerError")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() { return `${this.operation}: ${this.reason}` }
}

/** No reply within the requested timeout. */
export class RequestTimeout extends TaggedError("RequestTimeout")<{
  readonly method: string
  readonly timeoutMs: number
}> {
  override get message() { return `request ${this.method} timed out after ${this.timeoutMs} ms` }
}

/** The broker knows that nobody serves the method. */
export class NoResponders extends TaggedError("NoResponders")<{
  readonly method: string
}> {
  override get message() { return `no responders for ${this.method}` }
}

/** The remote handler threw: its name, message and code travel back. */
export class RemoteError extends TaggedError("RemoteError")<{
  readonly method: string
  readonly remoteName: string
  readonly remoteMessage: string
  readonly code?: string | undefined
}> {
  override get message() { return `${this.method} failed remotely: ${this.remoteName}: ${this.remoteMessage}` }
}

/** A payload that its codec or schema rejects. Dead-lettered at once. */
export class DecodeFailed extends TaggedError("DecodeFailed")<{
  readonly contentType: string
  readonly reason: string
}> {
  override get message() { return `cannot decode ${this.contentType} payload: ${this.reason}` }
}

/**
 * Thrown by a handler to say "retrying cannot help": the message goes to the
 * dead-letter destination at once. `code` travels in the failure metadata.
 */
export class PermanentError extends Error {
  readonly _tag = "PermanentError"
  readonly code: string | undefined
  constructor(message: string, options?: { readonly cause?: unknown; readonly code?: string }) {
    super(message, { cause: options?.cause })
    this.name = "PermanentError"
    this.code = options?.code
  }
}

/** A handler error that retrying cannot fix: PermanentError or DecodeFailed, or any error marked so. */
export const isPermanent = (error: unknown): boolean =>
  error instanceof PermanentError ||
  error instanceof DecodeFailed ||
  (typeof error === "object" && error !== null && ((error as { _tag?: unknown })._tag === "PermanentError" || (error as { permanent?: unknown }).permanent === true))

/** Name, message and code of anything thrown, for failure metadata and log lines. */
export const describeError = (error: unknown): { readonly name: string; readonly message: string; readonly code: string | undefined } => {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { name: error.name, message: error.message, code: code === undefined || code === null ? undefined : String(code) }
  }
  return { name: typeof error, message: String(error), code: undefined }
}

/** Errors a caller of `publish` can see. */
export type PublishError = InvalidRoutingKey | PayloadTooLarge | PublishFailed | BusClosed | InvalidOptions
/** Errors a caller of `request` can see. */
export type RequestError = InvalidRoutingKey | InvalidOptions | PayloadTooLarge | RequestTimeout | NoResponders | RemoteError | DecodeFailed | PublishFailed | BusClosed
/** Errors opening a subscription or a server. */
export type SubscribeError = InvalidPattern | InvalidRoutingKey | InvalidOptions | BrokerError | BusClosed
/** Errors from `connect`. */
export type ConnectError = InvalidUrl | ConnectionFailed | AuthenticationFailed | InvalidOptions

const publishErrorTags: ReadonlySet<string> = new Set(["InvalidRoutingKey", "PayloadTooLarge", "PublishFailed", "BusClosed", "InvalidOptions"])
const requestErrorTags: ReadonlySet<string> = new Set([...publishErrorTags, "RequestTimeout", "NoResponders", "RemoteError", "DecodeFailed"])
const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string" ? (e as { _tag: string })._tag : undefined

/** The typed errors pass through; anything else (a bug, not a broker answer) becomes PublishFailed naming the key. */
export const asPublishError = (e: unknown, key: string): PublishError =>
  publishErrorTags.has(tagOf(e) ?? "") ? (e as PublishError) : new PublishFailed({ key, reason: describeError(e).message, cause: e })

export const asRequestError = (e: unknown, method: string): RequestError =>
  requestErrorTags.has(tagOf(e) ?? "") ? (e as RequestError) : new PublishFailed({ key: method, reason: describeError(e).message, cause: e })

/** Removes user info and secret query parameters so a URL can be logged. */
export const redactUrl = (url: string): string => {
  try {
    const u = new URL(url)
    if (u.username) u.username = "***"
    if (u.password) u.password = "***"
    for (const k of [...u.searchParams.keys()]) {
      if (/pass|token|secret|key|cred|sasl/i.test(k)) u.searchParams.set(k, "***")
    }
    return u.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@")
  }
}

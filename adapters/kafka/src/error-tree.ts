/**
 * @platformatic/kafka's errors nest: MultipleErrors and ResponseError keep theirs in
 * `errors`, wrappers in `cause`. Every check of what a failure was (client.ts: retriable,
 * authentication, an API error; coordinator.ts: transient for the membership) walks the
 * whole tree.
 */
export interface ErrorNode {
  readonly name?: unknown
  readonly message?: unknown
  readonly code?: unknown
  readonly canRetry?: unknown
  readonly apiId?: unknown
  readonly errors?: unknown
  readonly cause?: unknown
}

/** Every error in an error tree, each once. */
export const errorTree = (e: unknown, seen = new Set<unknown>()): Array<ErrorNode> => {
  if (typeof e !== "object" || e === null || seen.has(e)) return []
  seen.add(e)
  const t = e as ErrorNode
  const nested = Array.isArray(t.errors) ? t.errors.flatMap((x) => errorTree(x, seen)) : []
  return [t, ...nested, ...errorTree(t.cause, seen)]
}

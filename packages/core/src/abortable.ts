/**
 * For adapters: a broker call raced against an AbortSignal, for waits the caller must be able to
 * leave (a request's deadline, a consumer stopping) while the call itself cannot be cancelled.
 */

/** `p`, or a rejection with `reason()` once `signal` aborts, whichever comes first; `p` then goes on unobserved. */
export const untilAborted = <A>(p: Promise<A>, signal: AbortSignal, reason: () => unknown): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const onAbort = () => reject(reason())
    if (signal.aborted) onAbort()
    else signal.addEventListener("abort", onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort))
  })

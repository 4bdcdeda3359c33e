/** Waiting for a condition with a deadline (never a fixed sleep): polls `probe` until it returns a value. */
export const waitFor = async <T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, everyMs = 10): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (e) {
      lastError = e
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? ` (last error: ${lastError.message})` : ""}`)
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

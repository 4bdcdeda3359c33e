/** The outcomes a subscription reports to `observe` and to middleware (metrics, logs, test spies). */
export type HandlerEventType = "handled" | "retry" | "dead-letter" | "dropped" | "duplicate" | "released"

/** Emitted after each outcome; `observe` on a subscription receives them. */
export interface HandlerEvent {
  readonly type: HandlerEventType
  readonly group: string
  readonly id: string
  readonly routingKey: string
  readonly attempt: number
  readonly error?: unknown
  readonly delayMs?: number
}

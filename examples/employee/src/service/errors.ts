/**
 * Errors the service reports to callers. The `code` travels back over RPC
 * (core's RemoteError.code), so the web app can tell "no such employee"
 * from "invalid input" without parsing messages.
 */
export type EmployeeErrorCode = "invalid" | "not_found" | "exists"

export class EmployeeError extends Error {
  readonly code: EmployeeErrorCode
  constructor(code: EmployeeErrorCode, message: string) {
    super(message)
    this.name = "EmployeeError"
    this.code = code
  }
}

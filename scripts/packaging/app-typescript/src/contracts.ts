// A typed contract, as a service would share it with its consumers.
import { defineEvent, defineRpc, json, jsonOf } from "@omnibus/core"

export interface EmployeeCreated {
  readonly guid: string
  readonly name: string
  readonly manager?: string
}

export interface Search {
  readonly lastName: string
}

export interface SearchResult {
  readonly records: ReadonlyArray<EmployeeCreated>
}

export const employeeCreated = (prefix: string) => defineEvent(`${prefix}.employee.created`, jsonOf<EmployeeCreated>())
export const auditLogged = (prefix: string) => defineEvent(`${prefix}.audit.logged`, json)
export const searchEmployees = (prefix: string) => defineRpc(`${prefix}.employee.search`, jsonOf<Search>(), jsonOf<SearchResult>())

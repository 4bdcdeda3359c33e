/**
 * The web app's only way to the employee service: RPC with the generated
 * contracts. Nothing here knows which broker carries the requests.
 */
import type { Bus } from "@omnibus/core"
import { EmployeeMessageService as rpc, type EmployeeMessage, type EmployeeMessageRequest } from "../contracts/employee.generated.ts"

export class EmployeeClient {
  private readonly bus: Bus
  private readonly timeoutMs: number

  constructor(bus: Bus, timeoutMs: number) {
    this.bus = bus
    this.timeoutMs = timeoutMs
  }

  async search(filter: EmployeeMessageRequest): Promise<ReadonlyArray<EmployeeMessage>> {
    const list = await this.bus.request(rpc.search, filter, { timeout: this.timeoutMs })
    return list.records
  }

  async find(guid: string): Promise<EmployeeMessage | undefined> {
    const found = await this.search({ guid })
    return found[0]
  }

  create(e: EmployeeMessage): Promise<EmployeeMessage> {
    return this.bus.request(rpc.create, e, { timeout: this.timeoutMs })
  }

  update(e: EmployeeMessage): Promise<EmployeeMessage> {
    return this.bus.request(rpc.update, e, { timeout: this.timeoutMs })
  }

  destroy(guid: string): Promise<EmployeeMessage> {
    return this.bus.request(rpc.destroy, { guid }, { timeout: this.timeoutMs })
  }
}

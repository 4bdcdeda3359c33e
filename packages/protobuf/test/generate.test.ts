import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import protobuf from "protobufjs"
import { describe, expect, it } from "vitest"
import { generateModule } from "../src/index.ts"
import { events, KitchenService, OrderCodec } from "./fixtures/kitchen.generated.ts"

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const cli = here("../src/generate.ts")
const args = ["--prefix", "kitchen", "--method-case", "kebab", "--event", "kitchen.order-placed=omnibus.kitchen.Order"]

describe("generate", () => {
  it("the committed fixture module is what the CLI generates from the .proto", () => {
    const out = join(mkdtempSync(join(tmpdir(), "omnibus-gen-")), "kitchen.generated.ts")
    execFileSync(process.execPath, [cli, here("fixtures/kitchen.proto"), out, ...args])
    const expected = readFileSync(here("fixtures/kitchen.generated.ts"), "utf8")
    // Only the .proto's relative location differs for a file written elsewhere.
    expect(readFileSync(out, "utf8").replace(/new URL\("[^"]+"/, 'new URL("./kitchen.proto"')).toBe(expected)
  })

  it("--check fails when the generated file is stale and passes when it is current", () => {
    const dir = mkdtempSync(join(tmpdir(), "omnibus-gen-"))
    const out = join(dir, "stale.ts")
    writeFileSync(out, "// stale\n")
    expect(() => execFileSync(process.execPath, [cli, here("fixtures/kitchen.proto"), out, ...args, "--check"], { stdio: "pipe" })).toThrow(/out of date/)
    execFileSync(process.execPath, [cli, here("fixtures/kitchen.proto"), out, ...args])
    execFileSync(process.execPath, [cli, here("fixtures/kitchen.proto"), out, ...args, "--check"])
  })

  it("builds contracts named by prefix and method case, with the message codecs", () => {
    expect(KitchenService.placeOrder.method).toBe("kitchen.place-order")
    expect(KitchenService.placeOrder.request).toBe(OrderCodec)
    expect(KitchenService.placeOrder.response.contentType).toBe("application/protobuf; messageType=omnibus.kitchen.PlaceOrderReply")
    expect(events.kitchenOrderPlaced.key).toBe("kitchen.order-placed")
  })

  it("defaults the prefix to the service name and camelCases methods", () => {
    const { root } = protobuf.parse(`syntax = "proto3"; message A { string x_y = 1; repeated int64 n = 2; } service ThingStoreService { rpc FindByName (A) returns (A); }`)
    const text = generateModule({ root, protoPath: "./a.proto", sourceName: "a.proto" })
    expect(text).toContain(`findByName: defineRpc("thing_store.findByName", ACodec, ACodec)`)
    expect(text).toContain("readonly xY?: string")
    expect(text).toContain("readonly n: ReadonlyArray<bigint>")
    expect(text).not.toContain("defineEvent")
  })

  it("refuses what Omnibus RPC cannot express, naming it", () => {
    const { root } = protobuf.parse(`syntax = "proto3"; message A {} service S { rpc Watch (A) returns (stream A); }`)
    expect(() => generateModule({ root, protoPath: "./a.proto", sourceName: "a.proto" })).toThrow(/S\.Watch: streaming/)
    const two = protobuf.parse(`syntax = "proto3"; message A {} service S { rpc M (A) returns (A); } service T { rpc M (A) returns (A); }`).root
    expect(() => generateModule({ root: two, protoPath: "./a.proto", sourceName: "a.proto", prefix: "p" })).toThrow(/2 services/)
    expect(generateModule({ root: two, protoPath: "./a.proto", sourceName: "a.proto", prefix: { S: "s", T: "t" } })).toContain(`m: defineRpc("t.m"`)
  })
})

import { describe, expect, it } from "vitest"
import { contentTypeFits, json, type Codec } from "../src/codec.ts"

describe("contentTypeFits", () => {
  const proto = (t: string): Codec<unknown> => ({ contentType: `application/x-protobuf; messageType=${t}`, encode: () => new Uint8Array(), decode: () => undefined })
  it("compares media types and the parameters the codec names, not charset", () => {
    expect(contentTypeFits(json, "application/json; charset=utf-8")).toBe(true)
    expect(contentTypeFits(json, "text/plain")).toBe(false)
    expect(contentTypeFits(proto("a.B"), "application/x-protobuf; messageType=a.B")).toBe(true)
    expect(contentTypeFits(proto("a.B"), "application/x-protobuf; messageType=a.C")).toBe(false)
    expect(contentTypeFits(proto("a.B"), "application/x-protobuf")).toBe(false)
  })
})

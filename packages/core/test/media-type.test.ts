import { describe, expect, it } from "vitest"
import { contentTypeProblem, json, schema, text, type Codec } from "../src/codec.ts"
import { mediaTypeProblem, parseMediaType, ruleOf, type MediaTypeRule } from "../src/media-type.ts"
import { Schema } from "effect"

describe("parseMediaType", () => {
  it("lowercases the essence and parameter names, unquotes values, finds the suffix", () => {
    const m = parseMediaType(' Application/CloudEvents+JSON ; Charset="UTF-8"; messageType=a.B ')!
    expect(m.essence).toBe("application/cloudevents+json")
    expect(m.suffix).toBe("json")
    expect([...m.params]).toEqual([["charset", "UTF-8"], ["messagetype", "a.B"]])
  })
  it("refuses what is not type/subtype", () => {
    for (const ct of [undefined, "", "json", "/json", "application/", "a b/c", "application/json x"]) expect(parseMediaType(ct)).toBeUndefined()
  })
})

describe("JSON codecs accept JSON however it is labelled", () => {
  const jsonCodecs: Array<[string, Codec<unknown>]> = [["json", json], ["schema", schema(Schema.Struct({ a: Schema.Number })) as Codec<unknown>]]
  for (const [name, codec] of jsonCodecs) {
    it(`${name}: application/json with parameters and +json suffixes`, () => {
      for (const ct of ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/cloudevents+json", "application/vnd.foo+json; version=2"]) {
        expect(contentTypeProblem(codec, ct), ct).toBeUndefined()
      }
    })
    it(`${name}: not other media types, nor none`, () => {
      for (const ct of ["text/plain", "application/protobuf", "application/octet-stream", "", "application/jsonx", "application/json-seq"]) {
        expect(contentTypeProblem(codec, ct), ct).toBeDefined()
      }
    })
  }
})

describe("rules", () => {
  const proto: MediaTypeRule = { types: ["application/protobuf", "application/x-protobuf"], untyped: true, params: { messagetype: ["a.B"], encoding: ["binary"] } }
  it("untyped: no content type and application/octet-stream are tried", () => {
    expect(mediaTypeProblem(proto, undefined)).toBeUndefined()
    expect(mediaTypeProblem(proto, "")).toBeUndefined()
    expect(mediaTypeProblem(proto, "application/octet-stream")).toBeUndefined()
    expect(mediaTypeProblem({ types: ["application/protobuf"] }, "application/octet-stream")).toBe("media type application/octet-stream is not decoded here")
    expect(mediaTypeProblem({ types: ["application/protobuf"] }, "")).toBe("no content type")
  })
  it("a parameter the rule names may be absent, but never carry another value", () => {
    expect(mediaTypeProblem(proto, "application/x-protobuf")).toBeUndefined()
    expect(mediaTypeProblem(proto, "application/protobuf; messageType=a.B; encoding=binary")).toBeUndefined()
    expect(mediaTypeProblem(proto, "application/protobuf; MessageType=a.C")).toBe("declares messagetype=a.C")
    expect(mediaTypeProblem(proto, "application/protobuf; encoding=json")).toBe("declares encoding=json")
  })
  it("a codec without a rule requires the parameters it names (but charset), as before", () => {
    const legacy = ruleOf("application/x-protobuf; messageType=a.B")
    expect(mediaTypeProblem(legacy, "application/x-protobuf; messageType=a.B")).toBeUndefined()
    expect(mediaTypeProblem(legacy, "application/x-protobuf")).toBe("parameter messagetype is missing")
    expect(mediaTypeProblem(legacy, "application/x-protobuf; messageType=a.C")).toBe("declares messagetype=a.C")
    expect(mediaTypeProblem(ruleOf(text.contentType), "text/plain")).toBeUndefined()
  })
  it("says when a content type is no media type", () => {
    expect(mediaTypeProblem(proto, "protobuf")).toBe('content type "protobuf" is not a media type')
  })
})

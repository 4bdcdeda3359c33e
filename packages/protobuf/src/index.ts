export { protobufAccepts, protobufCodec, protobufContentType, type ProtobufCodecOptions, type ProtobufMediaType } from "./codec.ts"
export { loadProto, parseProto } from "./load.ts"
export { checkWire, WireError, type WireOptions } from "./wire.ts"
export { generateModule, type GenerateOptions, type EventSpec } from "./generator.ts"

export { protobufCodec, protobufContentType, type ProtobufCodecOptions } from "./codec.ts"
export { loadProto } from "./load.ts"
export { checkWire, WireError, type WireOptions } from "./wire.ts"
export { generateModule, type GenerateOptions, type EventSpec } from "./generator.ts"

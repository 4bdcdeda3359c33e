// Contracts for `omnibus asyncapi` run from the installed @omnibus/cli (scripts/packaging.sh).
import { codecs, defineEvent, defineRpc } from "@omnibus/core"

export const orderPlaced = defineEvent("orders.placed", codecs.json)
export const ping = defineRpc("health.ping", codecs.text, codecs.text)

/**
 * HTML with escaping by default: every value interpolated into `html` is
 * escaped unless it is itself the result of `html` (already safe). Views
 * cannot forget to escape, because there is no unescaped path to forget.
 */
export class SafeHtml {
  readonly value: string
  constructor(value: string) {
    this.value = value
  }
  toString(): string {
    return this.value
  }
}

const ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }

/** Escapes text for element content and quoted attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ENTITIES[c]!)

type Part = SafeHtml | string | number | undefined | null | false | ReadonlyArray<Part>

const render = (part: Part): string => {
  if (part === undefined || part === null || part === false) return ""
  if (part instanceof SafeHtml) return part.value
  if (Array.isArray(part)) return part.map(render).join("")
  return escapeHtml(String(part))
}

export const html = (strings: TemplateStringsArray, ...parts: ReadonlyArray<Part>): SafeHtml =>
  new SafeHtml(strings.reduce((out, s, i) => out + s + (i < parts.length ? render(parts[i]!) : ""), ""))

/** A path segment for a URL inside an attribute (html() escapes the result again for the attribute). */
export const segment = (value: string): string => encodeURIComponent(value)

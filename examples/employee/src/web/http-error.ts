/** A page that is not the one asked for: its status, title and what to tell the user. */
export class HttpError extends Error {
  readonly status: number
  readonly title: string
  constructor(status: number, title: string, message: string) {
    super(message)
    this.status = status
    this.title = title
  }
}

export const notFound = (): HttpError => new HttpError(404, "Not found", "There is no such page.")

/** The daemon API's settings routes, `/api/v1/settings` (docs/API.md), for ApiServer. */
import { NotFoundError } from '../errors.js'
import { parseSettingsRequest } from '../validate.js'
import type { ApiBackend } from '../backend.js'

export async function routeSettings (backend: ApiBackend, method: string, parts: string[], body: unknown, allow: (m: string) => never): Promise<[number, unknown]> {
  if (parts.length !== 0) throw new NotFoundError()
  if (method === 'GET') return [200, backend.settings()]
  if (method === 'PUT') return [200, await backend.updateSettings(parseSettingsRequest(body))]
  return allow('GET, PUT')
}

/** The daemon API's circle routes, `/api/v1/circles…` (docs/API.md), for ApiServer. */
import { NotFoundError } from '../errors.js'
import { parseCircleAutoFetch, parseCircleCreate, parseCircleInvite, parseCircleJoin, parseCircleRemove } from '../validate.js'
import type { ApiBackend } from '../backend.js'
import { DEFAULT_INVITE_TTL_MS, defaultMemberName } from '../../circle/circles.js'

export async function routeCircles (backend: ApiBackend, method: string, parts: string[], body: unknown, allow: (m: string) => never): Promise<[number, unknown]> {
  const [name, what] = parts
  if (parts.length === 0) {
    if (method === 'GET') return [200, { circles: backend.circleList() }]
    if (method === 'POST') {
      const req = parseCircleCreate(body)
      return [201, await backend.circleCreate(req.name, req.memberName ?? defaultMemberName())]
    }
    allow('GET, POST')
  }
  if (parts.length === 1 && name === 'join') {
    if (method !== 'POST') allow('POST')
    const req = parseCircleJoin(body)
    return [201, await backend.circleJoin(req.code, req.memberName ?? defaultMemberName())]
  }
  if (parts.length === 2 && name !== undefined) {
    if (what === 'invite') {
      if (method !== 'POST') allow('POST')
      const req = parseCircleInvite(body)
      return [201, await backend.circleInvite(name, (req.ttlSeconds ?? DEFAULT_INVITE_TTL_MS / 1000) * 1000)]
    }
    if (what === 'members') {
      if (method !== 'GET') allow('GET')
      return [200, { members: backend.circleMembers(name) }]
    }
    if (what === 'feed') {
      if (method !== 'GET') allow('GET')
      return [200, { feed: backend.circleFeed(name) }]
    }
    if (what === 'remove') {
      if (method !== 'POST') allow('POST')
      return [200, await backend.circleRemove(name, parseCircleRemove(body).peerId)]
    }
    if (what === 'auto-fetch') {
      if (method !== 'PUT') allow('PUT')
      const req = parseCircleAutoFetch(body)
      await backend.circleAutoFetch(name, req.dir)
      return [200, { autoFetch: req.dir }]
    }
  }
  throw new NotFoundError()
}

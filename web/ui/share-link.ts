/**
 * The share link the page works on, kept out of the address bar.
 *
 * A link arrives in the fragment (`<app>/#kith:…`), which browsers never send to a server. It is
 * taken out of the address bar as soon as it is read, as the API token is (api.ts, adoptToken):
 * `history.replaceState` swaps it for `#share`, so the link (its key) stays out of this tab's
 * back/forward entries and what the browser saves of them to restore a session, and out of
 * sight of anyone looking at or copying the address. A link opened from within the page (the
 * open form, a circle's feed) never enters the address bar at all.
 *
 * Trade-off, chosen: a reload must still resume a download, and the page needs the link (the key)
 * for that; the OPFS state holds only the manifest ID (web/peer/opfs-target.ts). So the link is
 * kept in this tab's sessionStorage, like the API token: per tab, never sent anywhere, not in the
 * browser's history, gone when the tab is closed (though, like the page's address, a browser may
 * keep it on disk to restore the session), and removed once the download is complete. Keeping it
 * only in memory would make a reload lose the download's place.
 */
const LINK_KEY = 'kith-share-link'
/** The fragment that stands for "the share link this tab holds". */
export const SHARE_ROUTE = 'share'

/** Text handed over by the page itself (the open form, the feed), not yet opened. */
let handed: string | undefined

/**
 * If the fragment holds something other than one of the page's routes (a link, or what was meant
 * as one), takes it out of the address bar (`#share` instead) and returns it.
 */
export function takeLinkFromHash (routes: readonly string[]): string | undefined {
  const hash = decodeURIComponent(location.hash.slice(1))
  if (hash === '' || hash === SHARE_ROUTE || routes.includes(hash)) return undefined
  history.replaceState(null, '', `${location.pathname}${location.search}#${SHARE_ROUTE}`)
  return hash
}

/** Opens `text` as the tab's link without it ever entering the address bar; `route` shows it. */
export function handLink (text: string, route: () => void): void {
  handed = text
  if (location.hash === `#${SHARE_ROUTE}`) route()
  else location.hash = SHARE_ROUTE // the hashchange runs `route`
}

/** The link to open for `#share`: one just handed over, else the tab's (after a reload). */
export function currentLink (): string | undefined {
  const text = handed ?? sessionStorage.getItem(LINK_KEY) ?? undefined
  handed = undefined
  return text
}

/** Keeps a link that parsed as the tab's link (so a reload resumes its download). */
export function rememberLink (text: string): void {
  sessionStorage.setItem(LINK_KEY, text)
}

/** Forgets the tab's link (its download is complete, or what was opened was no link). */
export function forgetLink (): void {
  sessionStorage.removeItem(LINK_KEY)
}

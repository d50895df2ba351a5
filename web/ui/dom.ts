/**
 * The page's DOM helpers, one copy for web/main.ts and every page in web/ui/: element lookup by
 * ID, element building, and the message line of the managed pages (circles, node, settings).
 */
import { KithError } from '../../protocol/errors.js'

/** The element with this ID (index.html has every ID the code asks for). */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

/** A new `<tag>` with these properties (and data-* attributes), holding these children. */
export function el<K extends keyof HTMLElementTagNameMap> (tag: K, props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  const { dataset, ...rest } = props
  Object.assign(e, rest)
  if (dataset !== undefined) for (const [k, v] of Object.entries(dataset)) e.dataset[k] = v
  e.append(...children)
  return e
}

/** Shows `text` in the message line of the managed page on screen (node, settings, else circles). */
export function message (text: string, error = false): void {
  const page = ['node', 'settings'].find(p => document.getElementById(`screen-${p}`)?.hidden === false) ?? 'circles'
  const m = $(`${page}-message`)
  m.textContent = text
  m.classList.toggle('error', error)
}

/** Runs `fn`; an error it throws goes to the message line. */
export async function guarded (fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    // Kith's own errors say what is wrong and never echo a key or a link: shown as they are.
    message(err instanceof KithError ? err.message : `something went wrong: ${(err as Error).name}`, true)
  }
}

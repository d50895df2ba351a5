/**
 * Where the CLI gets a repo passphrase: `KITH_PASSPHRASE`, else a prompt on the terminal (no echo),
 * else nothing (the repo then says PassphraseRequiredError). Never from argv, never logged.
 */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { KithError } from '../../protocol/errors.js'
import { PassphraseMismatchError } from './errors.js'

/** Reads one line from the terminal without echoing it. */
export async function promptHidden (question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  output.write(question)
  const muted = new Writable({ write (_chunk, _enc, cb) { cb() } })
  const rl = createInterface({ input, output: muted, terminal: true })
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('line', line => { resolve(line) })
      rl.once('close', () => { reject(new KithError('no passphrase given')) })
    })
  } finally {
    rl.close()
    output.write('\n')
  }
}

/** The passphrase for opening a sealed repo, or undefined if there is no way to ask. */
export function passphraseSource (env: NodeJS.ProcessEnv): () => Promise<string | undefined> {
  return async () => {
    const fromEnv = env.KITH_PASSPHRASE
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv
    if (process.stdin.isTTY !== true) return undefined
    return await promptHidden('passphrase for the kith repo: ')
  }
}

/** A new passphrase: from KITH_PASSPHRASE, else asked twice on the terminal. */
export async function newPassphrase (env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const fromEnv = env.KITH_PASSPHRASE
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (process.stdin.isTTY !== true) return undefined
  const a = await promptHidden('new passphrase for the kith repo: ')
  const b = await promptHidden('the same passphrase again: ')
  if (a !== b) throw new PassphraseMismatchError()
  return a
}

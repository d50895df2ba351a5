/** Help text, rendered from the command specs in args.ts. */
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './args.js'

const EXIT_STATUS = 'Exit status: 0 ok, 1 error, 2 usage error, 3 bad link, 4 wrong key, 5 no seeders/stalled/timed out, 6 disk full, 130 interrupted (Ctrl-C).'

function optionLines (options: Record<string, OptionSpec>): string[] {
  const left = Object.entries(options).map(([name, o]) => `${o.short !== undefined ? `-${o.short}, ` : '    '}--${name}${o.arg !== undefined ? ' ' + o.arg : ''}`)
  const width = Math.max(0, ...left.map(l => l.length))
  return Object.values(options).map((o, i) => `  ${(left[i] ?? '').padEnd(width)}  ${o.help}`)
}

function usageLine (c: CommandSpec): string {
  const args = c.args.map(a => a.required ? `<${a.name}>` : `[${a.name}]`).join(' ')
  return `kith ${c.name}${args !== '' ? ' ' + args : ''}${Object.keys(c.options).length > 0 ? ' [options]' : ''}`
}

export function topHelp (): string {
  const width = Math.max(...COMMANDS.map(c => (c.name + (c.args[0] !== undefined ? ` <${c.args[0].name}>` : '')).length))
  return [
    'kith: peer-to-peer, end-to-end encrypted file sharing',
    '',
    'Usage: kith <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map(c => `  ${(c.name + (c.args[0] !== undefined ? (c.args[0].required ? ` <${c.args[0].name}>` : ` [${c.args[0].name}]`) : '')).padEnd(width + 2)}  ${c.summary}`),
    '',
    'Global options (before or after the command):',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Examples:',
    '  kith share ~/Videos/holiday.mp4        share a file, seed until Ctrl-C',
    '  kith get \'kith:aea2b…\' -o ~/Downloads   download it',
    '  kith daemon                            run a node; share/get then go through it',
    '',
    'Run `kith help <command>` or `kith <command> --help` for a command\'s options.',
    EXIT_STATUS,
    ''
  ].join('\n')
}

export function commandHelp (c: CommandSpec): string {
  const lines = [`Usage: ${usageLine(c)}`, '', `${c.summary[0]?.toUpperCase() ?? ''}${c.summary.slice(1)}.`, '', ...c.description]
  if (Object.keys(c.options).length > 0) lines.push('', 'Options:', ...optionLines(c.options))
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS))
  lines.push('', 'Examples:', ...c.examples.map(e => `  ${e}`), '', EXIT_STATUS, '')
  return lines.join('\n')
}

/**
 * The standing hardening suite (test/hardening, docs/HARDENING.md) runs short inside `npm test` and
 * long under `npm run test:hardening` (KITH_HARDENING_LONG=1): more inputs, more peers, more kills,
 * longer soaks. Each test picks its size from here, so both runs execute the same code.
 */
export const LONG = process.env.KITH_HARDENING_LONG === '1'

/** `short` inside `npm test`, `long` under `npm run test:hardening`. */
export function sized<T> (short: T, long: T): T {
  return LONG ? long : short
}

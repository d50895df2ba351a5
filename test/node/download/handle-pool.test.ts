import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileHandlePool } from '../../../node/download/handle-pool.js'
import { removeTree, tempDir } from '../fixtures/procs.js'

let dir: string
beforeAll(async () => { dir = await tempDir('kith-pool-') })
afterAll(async () => { await removeTree(dir) })

/** A pool over real files that records which keys are open. */
function pool (max: number): { pool: FileHandlePool, open: Set<number>, opened: number[] } {
  const isOpen = new Set<number>()
  const opened: number[] = []
  const p = new FileHandlePool(max, async key => {
    const fh = await open(join(dir, `f${key}`), 'w+')
    opened.push(key)
    isOpen.add(key)
    const close = fh.close.bind(fh)
    ;(fh as { close: () => Promise<void> }).close = async () => { isOpen.delete(key); await close() }
    return fh as FileHandle
  })
  return { pool: p, open: isOpen, opened }
}

describe('FileHandlePool', () => {
  it('keeps at most `max` idle handles, closing the least recently used first, and reuses open ones', async () => {
    const { pool: p, open: isOpen, opened } = pool(2)
    for (const k of [1, 2, 1, 3]) { await p.acquire(k); await p.release(k) }
    // 2 was used least recently when 3 arrived; 1 was reused, not reopened.
    expect([...isOpen].sort()).toEqual([1, 3])
    expect(opened).toEqual([1, 2, 3])
    await p.closeAll()
    expect(isOpen.size).toBe(0)
  })

  it('never closes a handle in use, even over the bound; close() refuses one in use', async () => {
    const { pool: p, open: isOpen } = pool(1)
    const a = await p.acquire(1)
    await p.acquire(2)
    await p.release(2) // over the bound: 2 is idle and goes, 1 is in use and stays
    expect([...isOpen]).toEqual([1])
    await a.write(new Uint8Array([7]), 0, 1, 0)
    await expect(p.close(1)).rejects.toThrow(/in use/)
    await p.release(1)
    await p.close(1)
    expect(isOpen.size).toBe(0)
  })

  it('does not keep a failed open: the next acquire tries again', async () => {
    let fail = true
    const p = new FileHandlePool(4, async key => {
      if (fail) throw new Error('EACCES')
      return await open(join(dir, `g${key}`), 'w+')
    })
    await expect(p.acquire(1)).rejects.toThrow('EACCES')
    fail = false
    const fh = await p.acquire(1)
    expect(fh.fd).toBeGreaterThan(0)
    await p.release(1)
    await p.closeAll()
  })
})

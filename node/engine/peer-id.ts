/** A libp2p peer ID from a raw Ed25519 public key: a manifest's publisher, a circle author. Platform-neutral. */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'

export function peerIdOfKey (key: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(key)).toString()
}

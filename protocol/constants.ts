/**
 * Every number the Kith protocol fixes, in one place, with the reason for each.
 * A change to anything marked "format" here is a new format version (docs/PROTOCOL.md §Versions).
 */

/** Format version carried by links, manifests and the swarm protocol ID. */
export const FORMAT_VERSION = 1

// ---------------------------------------------------------------------------------------------
// Keys (docs/PROTOCOL.md §1)
// ---------------------------------------------------------------------------------------------

/** Root share key, seed key and every derived key: 256-bit (XChaCha20 key size, RFC 8439 §2.3). */
export const KEY_BYTES = 32
/** HKDF-SHA256 salt: fixed, public, versioned (RFC 5869 §3.1: a salt need not be secret). */
export const HKDF_SALT = 'kith/v1'
/** HKDF `info` labels. Every derived key has its own label (domain separation). Format. */
export const LABELS = Object.freeze({
  /** root → encryption key for chunks and the metadata section of the manifest */
  encryption: 'kith/v1/encryption',
  /** root → the 16-byte STREAM nonce prefix for chunk encryption */
  noncePrefix: 'kith/v1/nonce-prefix',
  /** root → seed key (what a seed-only capability holds) */
  seed: 'kith/v1/seed',
  /** seed → index key: seals the manifest's chunk index and its manifest blocks */
  index: 'kith/v1/index',
  /** seed → access key: proves membership of the swarm (admission) */
  access: 'kith/v1/access',
  /** seed → discovery key: the DHT key seeders announce under */
  discovery: 'kith/v1/discovery',
  /** seed → nonce prefix for manifest blocks */
  blockNoncePrefix: 'kith/v1/block-nonce-prefix'
})

/** Labels that domain-separate MACs, signatures and AEAD associated data. Format. */
export const DOMAINS = Object.freeze({
  manifestSignature: 'kith/v1/manifest-signature',
  manifestIndexAad: 'kith/v1/manifest/index',
  manifestMetaAad: 'kith/v1/manifest/meta',
  manifestBlockAad: 'kith/v1/manifest/block',
  admitInitiator: 'kith/v1/admit/initiator',
  admitResponder: 'kith/v1/admit/responder'
})

// ---------------------------------------------------------------------------------------------
// AEAD (XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03)
// ---------------------------------------------------------------------------------------------

export const XNONCE_BYTES = 24
export const TAG_BYTES = 16
/**
 * STREAM nonce layout (Hoang, Reyhanitabar, Rogaway, Vizár 2015, §7 "nOAE"): 24 bytes =
 * prefix(16) ‖ chunk index (u56 BE, 7 bytes) ‖ last-chunk flag (1 byte). The first 16 bytes are
 * constant per share, so the HChaCha20 sub-key is computed once per share (draft §2.3) and the
 * native path runs plain ChaCha20-Poly1305 with nonce 0x00000000 ‖ last 8 bytes.
 */
export const STREAM_PREFIX_BYTES = 16

// ---------------------------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------------------------

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

export const DEFAULT_CHUNK_SIZE = 1 * MiB
export const MIN_CHUNK_SIZE = 64 * KiB
export const MAX_CHUNK_SIZE = 8 * MiB
/** Largest ciphertext chunk on the wire or on disk. */
export const MAX_CHUNK_CIPHERTEXT = MAX_CHUNK_SIZE + TAG_BYTES
/**
 * Chunks per share. 2^24 chunks is 16 TiB at 1 MiB chunks, 1 TiB at the 64 KiB minimum; the
 * have-map for it is 2 MiB. Bounded so every index fits u32 and a bitfield is never huge.
 */
export const MAX_CHUNKS = 2 ** 24
/** Files per share (each file costs ≥ 1 chunk and a metadata entry). */
export const MAX_FILES = 100_000
/** Largest single file: MAX_CHUNKS × MAX_CHUNK_SIZE would overflow 2^53; cap at 2^50 (1 PiB). */
export const MAX_FILE_SIZE = 2 ** 50

// ---------------------------------------------------------------------------------------------
// Manifest (docs/PROTOCOL.md §4)
// ---------------------------------------------------------------------------------------------

/** A digest (sha2-256) names every chunk and block: CIDv1, raw codec (0x55), sha2-256 (0x12). */
export const DIGEST_BYTES = 32
/** Chunk digests listed inline in the root index before the list moves into manifest blocks. */
export const INLINE_DIGESTS = 64
/** Digests per manifest block (8192 × 32 B = 256 KiB of plaintext per block). */
export const BLOCK_FANOUT = 8192
/** Tree depth for manifest blocks: 64 × 8192^2 > MAX_CHUNKS, so depth ≤ 2 always suffices. */
export const MAX_TREE_DEPTH = 3
/** Root manifest block (the DHT record value). Keeps DHT records small (kad-dht caps at 4 MiB). */
export const MAX_ROOT_BYTES = 64 * KiB
/** A sealed manifest block: nonce-free (deterministic nonce) ciphertext of ≤ BLOCK_FANOUT digests. */
export const MAX_BLOCK_BYTES = BLOCK_FANOUT * DIGEST_BYTES + 64
/** The sealed metadata section (names, sizes, hashes of every file): bounded separately. */
export const MAX_META_BYTES = 32 * MiB

// ---------------------------------------------------------------------------------------------
// Paths (docs/PROTOCOL.md §5)
// ---------------------------------------------------------------------------------------------

/** One path component, in UTF-8 bytes (ext4, APFS and NTFS limits). */
export const MAX_NAME_BYTES = 255
/** Whole relative path, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096
/** Folder depth. */
export const MAX_PATH_DEPTH = 64

// ---------------------------------------------------------------------------------------------
// Links (docs/PROTOCOL.md §6)
// ---------------------------------------------------------------------------------------------

export const LINK_SCHEME = 'kith:'
export const LINK_CHECKSUM_BYTES = 4
export const MAX_LINK_HINTS = 4
export const MAX_HINT_BYTES = 200
/** Longest link text accepted by the parser, before any decoding work. */
export const MAX_LINK_CHARS = 2048

// ---------------------------------------------------------------------------------------------
// Swarm wire protocol (docs/PROTOCOL.md §7)
// ---------------------------------------------------------------------------------------------

export const SWARM_PROTOCOL = '/kith/swarm/1.0.0'
export const ADMISSION_NONCE_BYTES = 32
export const ADMISSION_PROOF_BYTES = 32
/** Largest swarm message: a piece of the largest chunk plus its header. */
export const MAX_MESSAGE_BYTES = MAX_CHUNK_CIPHERTEXT + 64
/** A have-map covers at most MAX_CHUNKS pieces: ≤ 2 MiB. */
export const MAX_BITFIELD_BYTES = MAX_CHUNKS / 8
/** Reason text in a reject message, bytes. */
export const MAX_REASON_BYTES = 256

// ---------------------------------------------------------------------------------------------
// Circles (docs/PROTOCOL.md §9)
// ---------------------------------------------------------------------------------------------

/** Members per circle (a remove entry holds one key box per remaining member). */
export const MAX_MEMBERS = 256
/** Largest membership entry: one key box (about 200 bytes encoded) per member, plus the rest. */
export const MAX_MEMBERSHIP_ENTRY_BYTES = MAX_MEMBERS * 200 + 1024
export const MAX_MEMBER_NAME_BYTES = 64

// Post quotas (docs/PROTOCOL.md §9.2). A circle is a handful of friends sharing links: a post is
// one link and a name, about 0.5–1 KiB signed (16 KiB at most). The quotas are per author and per
// epoch, so one member can never fill the others' disks or memory however much it signs, and a
// removal (a new epoch) gives everyone fresh room. Which of an author's posts count is decided by
// the set of posts alone, never by the order they arrived in (smallest entry ids first), so every
// member keeps the same ones.

/** Posts one author may have in one epoch: years of sharing for a person, a few MiB at most. */
export const MAX_POSTS_PER_AUTHOR_EPOCH = 4096
/** Signed bytes of one author's posts in one epoch: 4096 typical posts, or 256 of the largest. */
export const MAX_POST_BYTES_PER_AUTHOR_EPOCH = 4 * 1024 * 1024
/**
 * Over-quota posts of one author in one epoch that are still kept (hidden, never shown) because
 * another entry names them in `prev`: entries built on them must still apply everywhere.
 */
export const MAX_HIDDEN_POSTS_PER_AUTHOR_EPOCH = 1024
/** Posts a node keeps per circle, whoever wrote them (a backstop: 24 members at full quota). */
export const MAX_CIRCLE_POSTS = 100_000
/**
 * Membership entries (genesis, add, remove) per circle. Only the admin writes them and they never
 * count against the post limits, so a full log of posts can always still remove a member.
 */
export const MAX_MEMBERSHIP_ENTRIES = 16_384

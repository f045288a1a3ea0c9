import { createHash } from 'node:crypto';
import { assert } from '@paygrid/kernel';

// Which shard holds an account is decided by consistent hashing on a ring of unsigned 64-bit
// positions. Each shard owns `virtual_nodes` points on the ring, and an account belongs to the
// shard of the first point at or after the account's position, wrapping past the top to the
// first point. Adding a shard adds points, so the only accounts that move are those whose next
// point is now one of the new shard's: about 1/N of them, and always onto the new shard.
//
// The two hashes below decide where money lives. Changing either, or the labels and byte order
// they read, moves accounts between databases without moving their rows, so they are fixed
// forever; ring.test.ts pins them with vectors that fail loudly on any change.
//
// - A point's position is the first 8 bytes, read big-endian, of the SHA-256 of the ASCII label
//   `paygrid-ledger-shard:<shard index>:<virtual node>`, both numbers in decimal without leading
//   zeros (`paygrid-ledger-shard:3:17`). SHA-256 costs about 2 µs here, which is fine for the
//   few thousand points made when a ring is built. A point's label does not depend on how many
//   virtual nodes a shard has, so raising the count only adds points.
// - An account's position is MurmurHash3_x86_128 (Austin Appleby's reference algorithm, seed 0)
//   of the account id as 16 big-endian bytes: the first output word h1 is the position's high 32
//   bits and h2 its low 32 bits. SHA-256 per account cost 1.7-2.4 µs, and this runs for every
//   event; MurmurHash3's x86 variant needs only 32-bit multiplies, which JavaScript does natively
//   (Math.imul), and its finalizer spreads sequential ids evenly over the ring.
//
// Two points sharing a position is all but impossible (odds of about 1 in 10^10 with the most
// points allowed), but the order is defined all the same: by shard index, then virtual node, so
// the lower shard index owns that position.

export const virtual_nodes_default = 128;
/** 15 shards of 4,096 points each: the ring's arrays stay under a megabyte, and building one takes about 0.4 s. */
export const virtual_nodes_max = 4096;
/** Shard indexes are 0..14: the ledger writes the index into timestamps and into reserved clearing-account ids. */
export const shards_max = 15;
/** Versions are stored in a PostgreSQL INTEGER column. */
export const shard_map_version_max = 2_147_483_647;

/** The account id space: unsigned 128-bit, as in the ledger's wire format. */
const account_id_limit = 1n << 128n;
const account_id_bytes = 16;
const point_label_prefix = 'paygrid-ledger-shard';

export interface ShardMap {
  /** Starts at 1 and increases by one with every change. */
  readonly version: number;
  /** Sorted ascending, unique, each 0..shards_max-1, at least one. */
  readonly shard_indexes: readonly number[];
  /** Points each shard owns on the ring, 1..virtual_nodes_max. */
  readonly virtual_nodes: number;
}

/** Describes the first problem found with a shard map, or returns undefined when it is valid. */
export function validateShardMap(map: ShardMap): string | undefined {
  if (!Number.isSafeInteger(map.version) || map.version < 1 || map.version > shard_map_version_max) {
    return `shard map version must be an integer from 1 to ${shard_map_version_max} (got ${String(map.version)})`;
  }
  if (!Number.isSafeInteger(map.virtual_nodes) || map.virtual_nodes < 1 || map.virtual_nodes > virtual_nodes_max) {
    return `shard map virtual_nodes must be an integer from 1 to ${virtual_nodes_max} (got ${String(map.virtual_nodes)})`;
  }
  // A map may come from JSON or a database row, so the array itself is checked too.
  const listed: unknown = map.shard_indexes;
  if (!Array.isArray(listed) || listed.length === 0) {
    return 'shard map must list at least one shard index';
  }
  let previous = -1;
  for (const shard_index of map.shard_indexes) {
    if (!Number.isSafeInteger(shard_index) || shard_index < 0 || shard_index >= shards_max) {
      return `shard indexes must be integers from 0 to ${shards_max - 1} (got ${String(shard_index)})`;
    }
    if (shard_index <= previous) {
      return `shard indexes must be sorted ascending without duplicates (got ${map.shard_indexes.join(', ')})`;
    }
    previous = shard_index;
  }
  return undefined;
}

/** The position of a shard's virtual node on the ring, as an unsigned 64-bit integer. */
export function pointPosition(shard_index: number, virtual_node: number): bigint {
  const digest = createHash('sha256').update(`${point_label_prefix}:${shard_index}:${virtual_node}`, 'ascii').digest();
  return digest.readBigUInt64BE(0);
}

/** The account's position on the ring, as an unsigned 64-bit integer. */
export function accountPosition(account_id: bigint): bigint {
  hashAccountId(account_id);
  return (BigInt(account_hash[0] ?? 0) << 32n) | BigInt(account_hash[1] ?? 0);
}

/**
 * MurmurHash3_x86_128's output words h1..h4 for the last id hashed. One module-level array, so
 * that the hot path makes no array per call; JavaScript runs one call at a time on a thread.
 */
const account_hash = new Uint32Array(4);

const murmur_c1 = 0x239b961b;
const murmur_c2 = 0xab0e9789;
const murmur_c3 = 0x38b34ae5;
const murmur_c4 = 0xa1e38b93;
const word_mask = 0xffff_ffffn;

function rotateLeft(word: number, bits: number): number {
  return (word << bits) | (word >>> (32 - bits));
}

/** MurmurHash3's 32-bit finalizer: every input bit affects every output bit. */
function finalMix(word: number): number {
  word ^= word >>> 16;
  word = Math.imul(word, 0x85ebca6b);
  word ^= word >>> 13;
  word = Math.imul(word, 0xc2b2ae35);
  return word ^ (word >>> 16);
}

/**
 * The id's 16 big-endian bytes, written here and read back as MurmurHash3's little-endian 32-bit
 * blocks. A DataView does this in about 35 ns; shifting and masking the bigint four times took
 * about 150 ns, most of a call's cost.
 */
const account_id_view = new DataView(new ArrayBuffer(account_id_bytes));

/**
 * MurmurHash3_x86_128 with seed 0 of the id's 16 big-endian bytes, into `account_hash`. Sixteen
 * bytes are exactly one block, so the reference's tail step does nothing and is left out.
 */
function hashAccountId(account_id: bigint): void {
  assert(account_id >= 0n && account_id < account_id_limit, 'account id must be an unsigned 128-bit integer');
  account_id_view.setBigUint64(0, account_id >> 64n);
  account_id_view.setBigUint64(8, BigInt.asUintN(64, account_id));
  let k1 = account_id_view.getUint32(0, true);
  let k2 = account_id_view.getUint32(4, true);
  let k3 = account_id_view.getUint32(8, true);
  let k4 = account_id_view.getUint32(12, true);
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;

  k1 = Math.imul(rotateLeft(Math.imul(k1, murmur_c1), 15), murmur_c2);
  h1 ^= k1;
  h1 = (Math.imul(rotateLeft(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
  k2 = Math.imul(rotateLeft(Math.imul(k2, murmur_c2), 16), murmur_c3);
  h2 ^= k2;
  h2 = (Math.imul(rotateLeft(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
  k3 = Math.imul(rotateLeft(Math.imul(k3, murmur_c3), 17), murmur_c4);
  h3 ^= k3;
  h3 = (Math.imul(rotateLeft(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
  k4 = Math.imul(rotateLeft(Math.imul(k4, murmur_c4), 18), murmur_c1);
  h4 ^= k4;
  h4 = (Math.imul(rotateLeft(h4, 13) + h1, 5) + 0x32ac3b17) | 0;

  h1 ^= account_id_bytes;
  h2 ^= account_id_bytes;
  h3 ^= account_id_bytes;
  h4 ^= account_id_bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = finalMix(h1);
  h2 = finalMix(h2);
  h3 = finalMix(h3);
  h4 = finalMix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  account_hash[0] = h1;
  account_hash[1] = h2;
  account_hash[2] = h3;
  account_hash[3] = h4;
}

/** A ring built from a shard map: which shard holds an account. Immutable; build a new one for a new map. */
export class HashRing {
  readonly map: ShardMap;
  /** The points' positions sorted ascending, split into high and low 32 bits so that comparisons stay on numbers. */
  private readonly points_high: Uint32Array;
  private readonly points_low: Uint32Array;
  /** The shard index owning each point, in the same order. */
  private readonly points_shard: Uint8Array;

  constructor(map: ShardMap) {
    const problem = validateShardMap(map);
    assert(problem === undefined, `invalid shard map: ${problem ?? ''}`);
    this.map = Object.freeze({ version: map.version, shard_indexes: Object.freeze([...map.shard_indexes]), virtual_nodes: map.virtual_nodes });
    const points: { position: bigint; shard_index: number; virtual_node: number }[] = [];
    for (const shard_index of this.map.shard_indexes) {
      for (let virtual_node = 0; virtual_node < this.map.virtual_nodes; virtual_node += 1) {
        points.push({ position: pointPosition(shard_index, virtual_node), shard_index, virtual_node });
      }
    }
    points.sort((left, right) =>
      left.position !== right.position ? (left.position < right.position ? -1 : 1) : left.shard_index - right.shard_index || left.virtual_node - right.virtual_node,
    );
    this.points_high = new Uint32Array(points.length);
    this.points_low = new Uint32Array(points.length);
    this.points_shard = new Uint8Array(points.length);
    points.forEach((point, at) => {
      this.points_high[at] = Number(point.position >> 32n);
      this.points_low[at] = Number(point.position & word_mask);
      this.points_shard[at] = point.shard_index;
    });
  }

  /**
   * The shard index that holds the account. Runs for every event: one hash and a binary search,
   * about 150 ns with 3 shards of 128 points and 300 ns with 15 of 4,096 on the development machine.
   */
  shardOf(account_id: bigint): number {
    hashAccountId(account_id);
    return this.shardAt(account_hash[0] ?? 0, account_hash[1] ?? 0);
  }

  /** The shard index owning a ring position (an unsigned 64-bit integer): for tests and tools. */
  shardAtPosition(position: bigint): number {
    assert(position >= 0n && position <= 0xffff_ffff_ffff_ffffn, 'ring positions are unsigned 64-bit integers');
    return this.shardAt(Number(position >> 32n), Number(position & word_mask));
  }

  /** The owner of the first point at or after the position, wrapping to the first point. */
  private shardAt(high: number, low: number): number {
    let first = 0;
    let last = this.points_high.length;
    while (first < last) {
      const middle = (first + last) >>> 1;
      const point_high = this.points_high[middle] ?? 0;
      if (point_high < high || (point_high === high && (this.points_low[middle] ?? 0) < low)) first = middle + 1;
      else last = middle;
    }
    return this.points_shard[first === this.points_shard.length ? 0 : first] ?? 0;
  }
}

/** The accounts, among those given, whose shard differs between two rings, with where each moves. */
export function movedAccounts(before: HashRing, after: HashRing, account_ids: Iterable<bigint>): { account_id: bigint; from: number; to: number }[] {
  const moved: { account_id: bigint; from: number; to: number }[] = [];
  for (const account_id of account_ids) {
    const from = before.shardOf(account_id);
    const to = after.shardOf(account_id);
    if (from !== to) moved.push({ account_id, from, to });
  }
  return moved;
}

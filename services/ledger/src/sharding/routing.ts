// Where each account lives, across shard-map versions and while a shard is being added.
//
// Every account belongs to the shard its id hashes to on the newest map's ring, except while a
// new shard is being filled: then an account that the new ring gives to the new shard stays on
// its old shard until it has been moved (or is created on the new shard to begin with). The
// router and every shard's writer ask the same routing, so a writer refuses exactly what the
// router would no longer send it.
import { assert } from '@paygrid/kernel';
import { parseClearingAccountId } from './clearing';
import { HashRing, type ShardMap } from './ring';

/** The high 64 bits of the ids of the transfers that move an account to a new shard ("PGMOVE"). */
export const move_transfer_id_prefix = 0x5047_4d4f_5645_0000n;

/** A move transfer's id: its timestamp, unique across the ledger, under the move prefix. */
export function moveTransferId(timestamp: bigint): bigint {
  return (move_transfer_id_prefix << 64n) | timestamp;
}

export function isMoveTransferId(id: bigint): boolean {
  return id >> 64n === move_transfer_id_prefix;
}

export interface ShardAddition {
  /** The map before the new shard: where an account not yet moved still lives. */
  readonly before: HashRing;
  readonly shard_index: number;
  /** Accounts the new shard holds: moved there, or created there since the addition began. */
  readonly moved: Set<bigint>;
}

export class ShardRouting {
  private rings: HashRing[];
  addition: ShardAddition | undefined = undefined;

  /** Every map version there has been, oldest first: an account's history may be on any of their shards. */
  constructor(maps: readonly ShardMap[]) {
    assert(maps.length > 0, 'a sharded ledger has at least one map');
    this.rings = maps.map((map) => new HashRing(map));
  }

  get ring(): HashRing {
    const ring = this.rings[this.rings.length - 1];
    assert(ring !== undefined);
    return ring;
  }

  get previous(): HashRing | undefined {
    return this.rings[this.rings.length - 2];
  }

  addMap(map: ShardMap): void {
    assert(map.version === this.ring.map.version + 1, 'maps are added in version order');
    this.rings = [...this.rings, new HashRing(map)];
  }

  /** The shard that holds the account now. */
  route(account_id: bigint): number {
    const clearing = parseClearingAccountId(account_id);
    if (clearing !== undefined) return clearing.own;
    const owner = this.ring.shardOf(account_id);
    const addition = this.addition;
    if (addition === undefined || owner !== addition.shard_index || addition.moved.has(account_id)) return owner;
    return addition.before.shardOf(account_id);
  }

  /** Every shard the account has lived on, under any map version: where its history is. */
  homes(account_id: bigint): number[] {
    const clearing = parseClearingAccountId(account_id);
    if (clearing !== undefined) return [clearing.own];
    return [...new Set(this.rings.map((ring) => ring.shardOf(account_id)))];
  }

  /** How many times the map changed: an account has at most two move transfers per change on each shard. */
  get changes(): number {
    return this.rings.length - 1;
  }
}

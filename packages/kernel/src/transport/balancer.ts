// Which instance takes the next call, among those eligible (healthy, not ejected, not already
// tried by this call). Pure bookkeeping, no I/O: the policies are tested on their own.

export const balancing_policies = ['round_robin', 'weighted', 'least_outstanding'] as const;
export type BalancingPolicy = (typeof balancing_policies)[number];

export interface BalancedInstance {
  /** Stable for the instance's life: the weighted policy keeps its state by key. */
  readonly key: string;
  readonly weight: number;
  /** Calls sent to the instance and not yet answered. */
  readonly outstanding: number;
}

export interface Balancer {
  /** One of `candidates`, or undefined when there are none. */
  pick<T extends BalancedInstance>(candidates: readonly T[]): T | undefined;
  /** Drops the state kept for an instance that is gone for good. */
  forget(key: string): void;
}

export function createBalancer(policy: BalancingPolicy): Balancer {
  switch (policy) {
    case 'round_robin':
      return roundRobin();
    case 'weighted':
      return smoothWeighted();
    case 'least_outstanding':
      return leastOutstanding();
  }
}

/**
 * A cursor over whatever the candidates are now. When the set changes (an instance ejected or
 * back) the rotation shifts once, which costs evenness for one round and nothing else.
 */
function roundRobin(): Balancer {
  let cursor = 0;
  return {
    pick(candidates) {
      if (candidates.length === 0) return undefined;
      const chosen = candidates[cursor % candidates.length];
      cursor = (cursor + 1) % Number.MAX_SAFE_INTEGER;
      return chosen;
    },
    forget() {},
  };
}

/**
 * nginx's smooth weighted round robin: every pick adds each candidate's weight to its current
 * weight, takes the largest, and takes the total off the one taken. Weights 5, 1, 1 give
 * a a b a c a a rather than a a a a a b c, so a heavy instance never gets a burst.
 */
function smoothWeighted(): Balancer {
  const current_weights = new Map<string, number>();
  return {
    pick(candidates) {
      let chosen: (typeof candidates)[number] | undefined;
      let chosen_weight = Number.NEGATIVE_INFINITY;
      let total = 0;
      for (const candidate of candidates) {
        const current = (current_weights.get(candidate.key) ?? 0) + candidate.weight;
        current_weights.set(candidate.key, current);
        total += candidate.weight;
        if (current > chosen_weight) {
          chosen = candidate;
          chosen_weight = current;
        }
      }
      if (chosen !== undefined) current_weights.set(chosen.key, chosen_weight - total);
      return chosen;
    },
    forget(key) {
      current_weights.delete(key);
    },
  };
}

/**
 * The candidate with the fewest calls in flight: a slow instance (a long GC pause, a noisy
 * neighbour) gathers outstanding calls and is then passed over until it catches up. Ties, the
 * usual case under light load, go round robin among the tied candidates only, so that idle
 * instances share the calls evenly (scanning from a rotating start instead would favour the
 * instance just after a busy one).
 */
function leastOutstanding(): Balancer {
  let cursor = 0;
  return {
    pick(candidates) {
      let fewest = Number.POSITIVE_INFINITY;
      for (const candidate of candidates) fewest = Math.min(fewest, candidate.outstanding);
      const tied = candidates.filter((candidate) => candidate.outstanding === fewest);
      if (tied.length === 0) return undefined;
      const chosen = tied[cursor % tied.length];
      cursor = (cursor + 1) % Number.MAX_SAFE_INTEGER;
      return chosen;
    },
    forget() {},
  };
}

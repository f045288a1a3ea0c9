/**
 * A min-heap of pending-transfer expiry times. Entries are never removed when a pending transfer
 * is posted or voided; instead the caller's `isValid` check skips entries that no longer match,
 * which keeps posting and voiding O(1).
 */
export class ExpiryQueue {
  private readonly heap: { expires_at: bigint; id: bigint }[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(id: bigint, expires_at: bigint): void {
    const heap = this.heap;
    heap.push({ expires_at, id });
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parent_entry = heap[parent];
      const entry = heap[index];
      if (parent_entry === undefined || entry === undefined || parent_entry.expires_at <= entry.expires_at) break;
      heap[parent] = entry;
      heap[index] = parent_entry;
      index = parent;
    }
  }

  /** The earliest valid expiry, dropping stale entries on the way. */
  peekValid(isValid: (id: bigint, expires_at: bigint) => boolean): bigint | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      if (isValid(top.id, top.expires_at)) return top.expires_at;
      this.pop();
    }
  }

  /** Removes and returns the id of a valid entry that expires at or before `now`. */
  popDue(now: bigint, isValid: (id: bigint, expires_at: bigint) => boolean): bigint | undefined {
    const expires_at = this.peekValid(isValid);
    if (expires_at === undefined || expires_at > now) return undefined;
    const top = this.pop();
    return top?.id;
  }

  private pop(): { expires_at: bigint; id: bigint } | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let index = 0;
    for (;;) {
      let smallest = index;
      let smallest_entry = last;
      for (const child of [2 * index + 1, 2 * index + 2]) {
        const child_entry = heap[child];
        if (child_entry !== undefined && child_entry.expires_at < smallest_entry.expires_at) {
          smallest = child;
          smallest_entry = child_entry;
        }
      }
      if (smallest === index) return top;
      heap[smallest] = last;
      heap[index] = smallest_entry;
      index = smallest;
    }
  }
}

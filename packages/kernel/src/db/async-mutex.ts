/** Runs async work one piece at a time, in the order it was asked for. */
export class AsyncMutex {
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;

  /** Pieces of work running or queued. */
  get pending(): number {
    return this.#waiting;
  }

  async run<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.#tail;
    let release: () => void = () => undefined;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#waiting += 1;
    try {
      await previous;
      return await work();
    } finally {
      this.#waiting -= 1;
      release();
    }
  }
}

import { assert } from '../assert';

export type ReadinessCheck = () => Promise<void>;

export interface ReadinessFailure {
  readonly name: string;
  readonly error: unknown;
}

/** A check that has not answered by then counts as failed: a probe must answer promptly. */
export const readiness_check_timeout_ms = 2_000;
export const readiness_checks_max = 32;
const check_name_pattern = /^[a-z][a-z0-9_.-]{0,63}$/;

export class ReadinessCheckTimeoutError extends Error {
  override readonly name = 'ReadinessCheckTimeoutError';
}

/** The checks behind `/readyz`: database, bus and cache reachable, and whatever a service adds. */
export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();

  constructor(readonly timeout_ms: number = readiness_check_timeout_ms) {}

  add(name: string, check: ReadinessCheck): void {
    assert(check_name_pattern.test(name), `readiness check name must match ${String(check_name_pattern)}`);
    assert(!this.#checks.has(name), `readiness check "${name}" is already registered`);
    assert(this.#checks.size < readiness_checks_max, `at most ${readiness_checks_max} readiness checks`);
    this.#checks.set(name, check);
  }

  get checkNames(): readonly string[] {
    return [...this.#checks.keys()];
  }

  /** Runs every check at once and answers the failures, in registration order. */
  async run(): Promise<ReadinessFailure[]> {
    const outcomes = await Promise.allSettled([...this.#checks.values()].map((check) => this.#withTimeout(check)));
    const names = [...this.#checks.keys()];
    const failures: ReadinessFailure[] = [];
    outcomes.forEach((outcome, index) => {
      const name = names[index];
      assert(name !== undefined);
      if (outcome.status === 'rejected') failures.push({ name, error: outcome.reason });
    });
    return failures;
  }

  async #withTimeout(check: ReadinessCheck): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new ReadinessCheckTimeoutError(`timed out after ${this.timeout_ms} ms`)), this.timeout_ms);
    });
    try {
      return await Promise.race([check(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

// The key-encryption key's life in a running platform: what is wrapped by which key, and the
// online rotation that replaces it. A rotation makes a new KEK current (every new data key is
// wrapped by it from that moment), then re-wraps the existing data keys of every store in this
// process (the vault's tokens, identity's signing secrets) in the background, in bounded batches,
// while reads and writes go on: both keys open data until the walk is done. Data itself is never
// re-encrypted. Progress is the rows' own `kek_id`, so a crash loses nothing and the next start
// (embedded) or the next `rewrap` (distributed) goes on from what is left.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, systemClock, type Clock } from '@paygrid/kernel';
import {
  countNotUnder,
  generateKeyEncryptionKey,
  removePreviousKeyFile,
  replaceKeyFile,
  rewrapStore,
  rewrap_batch_size_default,
  rewrap_batch_size_max,
  type Keyring,
  type KeySource,
  type WrappedKeyStore,
} from '@paygrid/kernel/envelope';

export const key_rotation_states = ['idle', 'rewrapping', 'failed'] as const;
export type KeyRotationState = (typeof key_rotation_states)[number];

export interface StoreKeyStatus {
  readonly name: string;
  /** Data keys per KEK id. */
  readonly data_keys: Record<string, number>;
  /** Data keys not under the current KEK. */
  readonly remaining: number;
}

/** GET /v1/keys: key ids only, never key material. */
export interface KeyRotationStatus {
  readonly object: 'key_rotation';
  readonly current_kek: string;
  readonly key_source: KeySource['kind'];
  readonly state: KeyRotationState;
  /** Unix seconds: when the last re-wrap started and ended in this process (null before any). */
  readonly started: number | null;
  readonly finished: number | null;
  /** Data keys the last re-wrap of this process has re-wrapped so far. */
  readonly rewrapped: number;
  /** Why the last re-wrap stopped, when it failed. Names key and row ids, never secrets. */
  readonly error: string | null;
  readonly stores: readonly StoreKeyStatus[];
  /** Data keys in every store of this process that are not under the current KEK. */
  readonly remaining: number;
}

export type KeyLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface KeyRotationOptions {
  /** Shared by every store of the process: adopting a key here switches them all at once. */
  readonly keyring: Keyring;
  readonly source: KeySource;
  readonly stores: readonly WrappedKeyStore[];
  /**
   * This process is the only one that uses the key, and it runs every store the key wraps data
   * in: embedded (no DATABASE_URL) with the vault, identity, webhooks and the wallet. Only then may it replace a
   * key file, re-wrap at start on its own, and forget the old key once nothing is under it. With
   * PostgreSQL, several instances share the data, and only the operator knows when every one of
   * them holds the new key; an embedded process running some services only cannot see the rest.
   */
  readonly sole_keeper: boolean;
  readonly log: KeyLog;
  readonly clock?: Clock;
}

function seconds(milliseconds: number): number {
  return Math.floor(milliseconds / 1000);
}

function checkBatchSize(value: unknown): number {
  if (value === undefined) return rewrap_batch_size_default;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > rewrap_batch_size_max) {
    throw new ApiError('invalid_request_error', 'parameter_invalid_integer', `batch_size must be an integer from 1 to ${rewrap_batch_size_max}`, 'batch_size');
  }
  return value;
}

export class KeyRotation {
  readonly #keyring: Keyring;
  readonly #source: KeySource;
  readonly #stores: readonly WrappedKeyStore[];
  readonly #sole_keeper: boolean;
  readonly #log: KeyLog;
  readonly #clock: Clock;
  readonly #stopping = new AbortController();
  #job: Promise<void> | undefined;
  #state: KeyRotationState = 'idle';
  #started: number | null = null;
  #finished: number | null = null;
  #rewrapped = 0;
  #error: string | null = null;

  constructor(options: KeyRotationOptions) {
    this.#keyring = options.keyring;
    this.#source = options.source;
    this.#stores = options.stores;
    this.#sole_keeper = options.sole_keeper;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
  }

  async status(): Promise<KeyRotationStatus> {
    const current = this.#keyring.current.id;
    const stores: StoreKeyStatus[] = [];
    for (const store of this.#stores) {
      const counts = await store.countDataKeysByKek();
      stores.push({ name: store.name, data_keys: Object.fromEntries([...counts].sort(([left], [right]) => left.localeCompare(right))), remaining: countNotUnder(counts, current) });
    }
    return {
      object: 'key_rotation',
      current_kek: current,
      key_source: this.#source.kind,
      state: this.#state,
      started: this.#started,
      finished: this.#finished,
      rewrapped: this.#rewrapped,
      error: this.#error,
      stores,
      remaining: stores.reduce((total, store) => total + store.remaining, 0),
    };
  }

  /**
   * Embedded, with the key in a file: makes a new KEK, stores it (the replaced one kept in
   * `<file>.previous` until nothing is wrapped by it), makes it current for every store, and
   * starts re-wrapping. Refused while a re-wrap runs or data keys are still under an older key,
   * and where the key is configuration (PAYGRID_VAULT_KEK, or several instances).
   */
  async rotate(options: { readonly batch_size?: unknown } = {}): Promise<KeyRotationStatus> {
    const batch_size = checkBatchSize(options.batch_size);
    const source = this.#source;
    if (source.kind !== 'file' || !this.#sole_keeper) {
      throw new ApiError(
        'invalid_request_error',
        'key_rotation_by_configuration',
        source.kind === 'environment'
          ? 'The key-encryption key comes from PAYGRID_VAULT_KEK, which this process cannot change: restart with the new key and the old one in PAYGRID_VAULT_KEK_PREVIOUS, then POST /v1/keys/rewrap (see docs/operations.md)'
          : 'This process is not the only keeper of the key: with DATABASE_URL every instance must hold a new key before any data is wrapped by it, and an embedded process that does not run the vault, identity, webhooks and the wallet cannot see all that the key wraps. Give the instances the new key by configuration, then POST /v1/keys/rewrap (see docs/operations.md)',
      );
    }
    if (this.#state === 'rewrapping') throw new ApiError('invalid_request_error', 'key_rotation_in_progress', 'A key rotation is re-wrapping data keys already; wait for it to finish (GET /v1/keys)');
    const before = await this.status();
    if (before.remaining > 0) {
      throw new ApiError(
        'invalid_request_error',
        'key_rotation_unfinished',
        `${before.remaining} data key(s) are still wrapped by an older key; finish that rotation first (POST /v1/keys/rewrap)`,
      );
    }
    const replaced = this.#keyring.current;
    const next = generateKeyEncryptionKey();
    // Durable before anything is wrapped by it: a crash from here on restarts with both keys.
    try {
      await replaceKeyFile(source.path, replaced, next);
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : 'an error';
      this.#log('error', 'could not write the new key-encryption key; the current key stays', { key_file: source.path, code });
      throw new ApiError('api_error', 'key_file_not_written', `Could not write the new key to ${source.path} (${code}); nothing was changed`);
    }
    this.#keyring.adopt(next);
    this.#log('info', 'key-encryption key rotated; re-wrapping data keys', { kek_id: next.id, previous_kek_id: replaced.id, key_file: source.path });
    this.#start(batch_size);
    return this.status();
  }

  /**
   * Re-wraps, in the background, every data key in this process's stores that is not under the
   * current KEK. With several instances, call it once every instance holds the new key as
   * current; until then some of them could not read what it re-wraps. A re-wrap already running
   * is left to run.
   */
  async rewrap(options: { readonly batch_size?: unknown } = {}): Promise<KeyRotationStatus> {
    const batch_size = checkBatchSize(options.batch_size);
    if (this.#state !== 'rewrapping') this.#start(batch_size);
    return this.status();
  }

  /**
   * At start, once the stores checked that every key in use is in the keyring. Embedded, a
   * rotation left unfinished (a crash, a stop, or a restart with the key in PAYGRID_VAULT_KEK and
   * the old one in PAYGRID_VAULT_KEK_PREVIOUS) goes on in the background. With several instances
   * it is only reported: the operator starts the re-wrap when every instance holds the new key.
   */
  async resumeAtStart(): Promise<void> {
    const status = await this.status();
    if (status.remaining === 0) {
      if (this.#sole_keeper) await this.#retirePreviousKeys();
      return;
    }
    if (this.#sole_keeper) {
      this.#log('info', 'resuming a key rotation: re-wrapping data keys under the current key-encryption key', { kek_id: status.current_kek, remaining: status.remaining });
      this.#start(rewrap_batch_size_default);
      return;
    }
    this.#log('warn', 'data keys are still wrapped by a previous key-encryption key; once every instance runs with the current key, re-wrap them (POST /v1/keys/rewrap or `paygrid keys rewrap`)', {
      kek_id: status.current_kek,
      remaining: status.remaining,
    });
  }

  /** Stops between two batches and waits; what was re-wrapped stays re-wrapped. */
  async close(): Promise<void> {
    this.#stopping.abort();
    await this.#job;
  }

  #start(batch_size: number): void {
    this.#state = 'rewrapping';
    this.#started = seconds(this.#clock.now());
    this.#finished = null;
    this.#rewrapped = 0;
    this.#error = null;
    this.#job = this.#run(batch_size).then(
      () => {
        this.#state = 'idle';
        this.#finished = seconds(this.#clock.now());
      },
      (error: unknown) => {
        this.#state = 'failed';
        this.#finished = seconds(this.#clock.now());
        // The stores' errors name key ids and row ids, never key material or secrets.
        this.#error = error instanceof Error ? error.message : String(error);
        this.#log('error', 'key rotation stopped: re-wrapping failed', { error: this.#error });
      },
    );
  }

  async #run(batch_size: number): Promise<void> {
    const signal = this.#stopping.signal;
    for (const store of this.#stores) {
      if (signal.aborted) return;
      const result = await rewrapStore(store, this.#keyring, {
        batch_size,
        signal,
        onBatch: (rewrapped) => {
          this.#rewrapped += rewrapped;
        },
      });
      this.#log('info', 'data keys re-wrapped', { store: store.name, rewrapped: result.rewrapped, remaining: result.remaining, kek_id: this.#keyring.current.id });
    }
    if (signal.aborted) return;
    const status = await this.status();
    if (status.remaining > 0) {
      // Another instance still wraps under an older key: it has not been given the new one.
      this.#log('warn', 'data keys are still wrapped by an older key-encryption key after re-wrapping; an instance without the current key is still writing', { remaining: status.remaining });
      return;
    }
    if (this.#sole_keeper) await this.#retirePreviousKeys();
    else this.#log('info', 'nothing is wrapped by a previous key-encryption key any more; drop PAYGRID_VAULT_KEK_PREVIOUS from every instance at its next restart', { kek_id: status.current_kek });
  }

  /**
   * Embedded and finished: nothing is wrapped by the older keys any more, so they are forgotten,
   * and a key file's `.previous` is deleted. A backup of the data made before the rotation needs
   * the old key: keep a copy of it with that backup (docs/operations.md).
   */
  async #retirePreviousKeys(): Promise<void> {
    const retired = this.#keyring.ids.filter((id) => id !== this.#keyring.current.id);
    for (const id of retired) this.#keyring.retire(id);
    if (this.#source.kind === 'file') await removePreviousKeyFile(this.#source.path);
    if (retired.length > 0) this.#log('info', 'key rotation finished: nothing is wrapped by the previous key-encryption key any more', { kek_id: this.#keyring.current.id, retired });
  }
}

interface RewrapBody {
  readonly batch_size?: number;
}

/** The body of both POST key routes; exported for the API fuzz, which generates bodies from it. */
export const rewrap_body_schema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { batch_size: { type: 'integer', minimum: 1, maximum: rewrap_batch_size_max } },
} as const;

/**
 * Operator routes: `GET /v1/keys` (what each key wraps, and the rotation's progress),
 * `POST /v1/keys/rotate` (embedded, key in a file: a new key, then the re-wrap) and
 * `POST /v1/keys/rewrap` (re-wrap under the current key). Both POSTs answer 202 at once with the
 * status; the work goes on in the background.
 */
export function registerKeyRoutes(app: FastifyInstance, options: { readonly rotation: KeyRotation; readonly authenticate: (request: FastifyRequest) => void }): void {
  const { rotation, authenticate } = options;
  app.register(
    (scope, _options, done) => {
      scope.addHook('onRequest', (request, _reply, next) => {
        authenticate(request);
        next();
      });
      scope.get('/', async () => rotation.status());
      scope.post<{ Body: RewrapBody | null | undefined }>('/rotate', { schema: { body: rewrap_body_schema } }, async (request, reply) => {
        const status = await rotation.rotate({ batch_size: request.body?.batch_size });
        return reply.code(202).send(status);
      });
      scope.post<{ Body: RewrapBody | null | undefined }>('/rewrap', { schema: { body: rewrap_body_schema } }, async (request, reply) => {
        const status = await rotation.rewrap({ batch_size: request.body?.batch_size });
        return reply.code(202).send(status);
      });
      done();
    },
    { prefix: '/v1/keys' },
  );
}

// The vault service: card tokenization with envelope encryption. Each token gets a fresh
// 256-bit data key that seals its number and CVC (AES-256-GCM); the data key is stored wrapped
// by the key-encryption key (KEK), which never touches the database. Rotating the KEK re-wraps
// the data keys and leaves the card ciphertexts alone.
//
// A card number leaves this service only through detokenize, for payment connectors. It never
// appears in an error, a log line or a thrown message; what errors name is the token id.
import { createHmac, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { ApiError, GroupCommitter, assert, randomId, systemClock, type Clock, type Database, type RandomBytes, type Tenant } from '@paygrid/kernel';
import {
  aes_key_length_bytes,
  binding,
  checkRewrapBatchSize,
  open,
  rewrapStore,
  seal,
  type KeyEncryptionKey,
  type Keyring,
  type RewrapBatchResult,
  type UnwrapFailureReason,
  type RewrapOptions,
  type RewrapResult,
  type Sealed,
  type WrappedKeyStore,
  unwrap_failure_reasons,
} from '@paygrid/kernel/envelope';
import { checkCard } from './card';
import {
  card_brands,
  type CardBrand,
  type CreateTokenInput,
  type Detokenization,
  type DetokenizedCard,
  type DetokenizePurpose,
  type Token,
  type TokenClaim,
  type VaultClient,
} from './types';

/** Characters of base64url HMAC kept as the fingerprint: 96 bits, beyond any accidental collision. */
export const fingerprint_length = 16;
export const connector_name_length_max = 64;
/** listDetokenizations returns at most this many, newest first. */
export const detokenizations_listed_max = 100;

export const decryption_failure_reasons = unwrap_failure_reasons;
export type DecryptionFailureReason = UnwrapFailureReason;
/** The fingerprint key is derived from the KEK with this HKDF info, once (see #loadFingerprintKey). */
const fingerprint_key_info = 'paygrid-vault-fingerprint';
/** The first part of every AAD the vault seals with, so that no other service's ciphertext opens here. */
const binding_domain = 'paygrid-vault';

/**
 * A sealed value in the vault did not open. `key_unavailable`: it is wrapped by a KEK this
 * service was not given (give it in PAYGRID_VAULT_KEK_PREVIOUS, or finish the rotation). `authentication_failed`:
 * the ciphertext, its wrapped key or its binding to the token was changed or moved, which is
 * corruption or tampering; the vault refuses rather than answer with a wrong card. The message
 * names the token and the key id, never card data or key material.
 */
export class VaultDecryptionError extends Error {
  override readonly name = 'VaultDecryptionError';

  constructor(
    readonly subject: string,
    readonly reason: DecryptionFailureReason,
    readonly kek_id: string,
  ) {
    super(
      reason === 'key_unavailable'
        ? `${subject} is wrapped by key-encryption key ${kek_id}, which this vault was not given`
        : `${subject} failed authentication under key-encryption key ${kek_id}: its ciphertext, wrapped key or binding was changed or moved`,
    );
  }
}

export interface VaultServiceOptions {
  /** Opened and migrated with vault_migrations by the platform. */
  readonly database: Database;
  /**
   * The current KEK wraps the data keys of new tokens; previous ones still open older tokens
   * during a rotation. Shared with identity in one process, so that a rotation switches both.
   */
  readonly keyring: Keyring;
  readonly clock?: Clock;
  /** For token ids only; keys and IVs always come from the system's cryptographic randomness. */
  readonly randomBytes?: RandomBytes;
}

// ---- Rows ---------------------------------------------------------------------------------

interface TokenRow {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly brand: string;
  readonly last4: string;
  readonly exp_month: number;
  readonly exp_year: number;
  readonly fingerprint: string;
  readonly used: boolean | number;
  readonly created: number;
}

interface WrappedDataKeyRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly kek_id: string;
  readonly data_key_ciphertext: unknown;
  readonly data_key_iv: unknown;
  readonly data_key_tag: unknown;
}

interface SealedCardRow extends WrappedDataKeyRow {
  readonly exp_month: number;
  readonly exp_year: number;
  readonly number_ciphertext: unknown;
  readonly number_iv: unknown;
  readonly number_tag: unknown;
  readonly cvc_ciphertext: unknown;
  readonly cvc_iv: unknown;
  readonly cvc_tag: unknown;
}

interface WrappedKeyRow {
  readonly kek_id: string;
  readonly ciphertext: unknown;
  readonly iv: unknown;
  readonly tag: unknown;
}

const token_columns = 'id, merchant_id, livemode, brand, last4, exp_month, exp_year, fingerprint, used, created';
const wrapped_data_key_columns = 'sequence, id, merchant_id, livemode, kek_id, data_key_ciphertext, data_key_iv, data_key_tag';
const sealed_card_columns = `${wrapped_data_key_columns}, exp_month, exp_year, number_ciphertext, number_iv, number_tag, cvc_ciphertext, cvc_iv, cvc_tag`;
const fingerprint_key_name = 'fingerprint';

/** SQLite reads a boolean column as 0 or 1, PostgreSQL as false or true. */
function booleanFromDatabase(value: boolean | number, column: string): boolean {
  assert(value === true || value === false || value === 0 || value === 1, `column ${column} holds a non-boolean`);
  return value === true || value === 1;
}

/** BLOB and BYTEA both read as Buffers. */
function bytesFromDatabase(value: unknown, column: string): Buffer {
  assert(Buffer.isBuffer(value), `column ${column} holds bytes`);
  return value;
}

function sealedFromDatabase(ciphertext: unknown, iv: unknown, tag: unknown, prefix: string): Sealed {
  return {
    ciphertext: bytesFromDatabase(ciphertext, `${prefix}ciphertext`),
    iv: bytesFromDatabase(iv, `${prefix}iv`),
    tag: bytesFromDatabase(tag, `${prefix}tag`),
  };
}

function brandFromDatabase(value: string): CardBrand {
  const brand = card_brands.find((candidate) => candidate === value);
  assert(brand !== undefined, `column brand holds '${value}', outside its closed set`);
  return brand;
}

function tokenFromRow(row: TokenRow): Token {
  return {
    id: row.id,
    object: 'token',
    card: {
      brand: brandFromDatabase(row.brand),
      last4: row.last4,
      exp_month: row.exp_month,
      exp_year: row.exp_year,
      fingerprint: row.fingerprint,
      funding: 'credit',
    },
    created: row.created,
    livemode: booleanFromDatabase(row.livemode, 'livemode'),
    used: booleanFromDatabase(row.used, 'used'),
  };
}

// ---- Bindings -----------------------------------------------------------------------------
// Each sealed value is bound (as GCM's AAD) to what it belongs to: the field, the token id and
// the tenant. A ciphertext or wrapped key moved to another row, to another field or to another
// merchant's row no longer authenticates.

interface TokenOwner {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
}

type SealedField = 'data_key' | 'number' | 'cvc';

function tokenBinding(field: SealedField, owner: TokenOwner): Buffer {
  return binding(binding_domain, field, owner.id, owner.merchant_id, owner.livemode);
}

const fingerprint_key_binding = binding(binding_domain, 'fingerprint_key');

function ownerFromRow(row: WrappedDataKeyRow): TokenOwner {
  return { id: row.id, merchant_id: row.merchant_id, livemode: booleanFromDatabase(row.livemode, 'livemode') };
}

// ---- Helpers ------------------------------------------------------------------------------

function notFound(token_id: string): ApiError {
  return new ApiError('not_found_error', 'resource_missing', `No such token: '${token_id}'`, 'token');
}

/** Tenants come from authentication: a malformed one is a bug. */
function assertTenant(tenant: Tenant): void {
  assert(typeof tenant.merchant_id === 'string' && tenant.merchant_id !== '', 'a tenant has a merchant id');
  assert(typeof tenant.livemode === 'boolean', 'a tenant has a boolean livemode');
}

/** Callers are our own services: a token id that is not a string is a bug. */
function assertTokenId(token_id: string): void {
  assert(typeof token_id === 'string' && token_id !== '', 'a token id is a non-empty string');
}

/**
 * HMAC-SHA256 of the merchant id and the number, under the vault's fingerprint key. Keyed, so
 * that a leaked fingerprint cannot be brute-forced back to a number (card numbers have few
 * unknown digits); per merchant, as Stripe's are per account, so that fingerprints cannot be
 * matched across merchants.
 */
export function cardFingerprint(fingerprint_key: Buffer, merchant_id: string, number: string): string {
  return createHmac('sha256', fingerprint_key).update(`${merchant_id}:${number}`, 'utf8').digest('base64url').slice(0, fingerprint_length);
}

export class VaultService implements VaultClient, WrappedKeyStore {
  readonly name = 'vault';
  readonly #database: Database;
  /**
   * Token writes, detokenization records and CVC erasures share commits: each was a commit of its
   * own, an fsync on the request's path, three per card payment.
   */
  readonly #commits: GroupCommitter;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #randomBytes: RandomBytes;
  #fingerprint_key: Promise<Buffer> | undefined;
  #connection_ready: Promise<void> | undefined;

  constructor(options: VaultServiceOptions) {
    this.#database = options.database;
    this.#commits = new GroupCommitter(options.database);
    this.#keyring = options.keyring;
    this.#clock = options.clock ?? systemClock;
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
  }

  /** The id of the KEK that wraps new tokens. */
  get current_kek_id(): string {
    return this.#keyring.current.id;
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  /**
   * SQLite keeps deleted and overwritten bytes in free space until the page is reused; with
   * secure_delete it zeroes them. That matters here: an erased CVC, or a data key wrapped by a
   * retired KEK, must not linger in the file. (PostgreSQL keeps dead row versions until vacuum;
   * see the README.)
   */
  async #prepareConnection(): Promise<void> {
    if (this.#database.dialect !== 'sqlite') return;
    this.#connection_ready ??= this.#database.execute('PRAGMA secure_delete = ON').then(() => undefined);
    const ready = this.#connection_ready;
    try {
      await ready;
    } catch (error) {
      if (this.#connection_ready === ready) this.#connection_ready = undefined;
      throw error;
    }
  }

  // ---- Keys -------------------------------------------------------------------------------

  /** The wrapped key opened with the KEK its row names, or a VaultDecryptionError. */
  #unwrap(subject: string, kek_id: string, wrapped: Sealed, aad: Buffer): Buffer {
    const unwrapped = this.#keyring.unwrap(kek_id, wrapped, aad);
    if (!unwrapped.ok) throw new VaultDecryptionError(subject, unwrapped.reason, kek_id);
    return unwrapped.key;
  }

  #unwrapDataKey(row: WrappedDataKeyRow): Buffer {
    const wrapped = sealedFromDatabase(row.data_key_ciphertext, row.data_key_iv, row.data_key_tag, 'data_key_');
    return this.#unwrap(`Token ${row.id}`, row.kek_id, wrapped, tokenBinding('data_key', ownerFromRow(row)));
  }

  /**
   * The fingerprint key, loaded once per service. The first token ever made derives it from the
   * KEK of the day and stores it wrapped; from then on it is read, never derived, so that it
   * survives KEK rotations. Two instances racing to store it both read back the one that won.
   */
  async #fingerprintKey(): Promise<Buffer> {
    this.#fingerprint_key ??= this.#loadFingerprintKey();
    const loading = this.#fingerprint_key;
    try {
      return await loading;
    } catch (error) {
      // A failure (a missing key, a lost connection) is not cached: the next call tries again.
      if (this.#fingerprint_key === loading) this.#fingerprint_key = undefined;
      throw error;
    }
  }

  async #loadFingerprintKey(): Promise<Buffer> {
    const select = () => this.#database.query<WrappedKeyRow>('SELECT kek_id, ciphertext, iv, tag FROM vault_keys WHERE name = ?', [fingerprint_key_name]);
    let [row] = await select();
    if (row === undefined) {
      const kek = this.#keyring.current;
      const key = kek.deriveKey(fingerprint_key_info);
      const wrapped = kek.wrap(key, fingerprint_key_binding);
      key.fill(0);
      await this.#database.execute('INSERT INTO vault_keys (name, kek_id, ciphertext, iv, tag, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING', [
        fingerprint_key_name,
        kek.id,
        wrapped.ciphertext,
        wrapped.iv,
        wrapped.tag,
        this.#nowSeconds(),
      ]);
      [row] = await select();
      assert(row !== undefined, 'the fingerprint key was stored or already there');
    }
    return this.#unwrap('The fingerprint key', row.kek_id, sealedFromDatabase(row.ciphertext, row.iv, row.tag, ''), fingerprint_key_binding);
  }

  /**
   * For start-up, so that a wrong PAYGRID_VAULT_KEK stops the process instead of the first
   * payment: opens the fingerprint key (storing it when the vault is new) and checks that every
   * KEK that wraps a token is in the keyring. Throws VaultDecryptionError otherwise. Returns the
   * ids of the KEKs in use (more than one while a rotation is unfinished).
   */
  async checkKeys(): Promise<string[]> {
    await this.#fingerprintKey();
    const rows = await this.#database.query<{ kek_id: string; tokens: number }>('SELECT kek_id, COUNT(*) AS tokens FROM vault_tokens GROUP BY kek_id ORDER BY kek_id');
    for (const row of rows) {
      if (!this.#keyring.has(row.kek_id)) throw new VaultDecryptionError(`${row.tokens} token(s)`, 'key_unavailable', row.kek_id);
    }
    return rows.map((row) => row.kek_id);
  }

  // ---- Tokens -----------------------------------------------------------------------------

  /**
   * Checks the card (refusals carry Stripe's codes and name card[number], card[exp_month],
   * card[exp_year] or card[cvc]), then stores it sealed and returns the token.
   */
  async createToken(tenant: Tenant, input: CreateTokenInput): Promise<Token> {
    assertTenant(tenant);
    const card = checkCard(input, this.#clock.now());
    const fingerprint = cardFingerprint(await this.#fingerprintKey(), tenant.merchant_id, card.number);
    const owner: TokenOwner = { id: randomId('tok', this.#randomBytes), merchant_id: tenant.merchant_id, livemode: tenant.livemode };
    const kek = this.#keyring.current;

    const data_key = cryptoRandomBytes(aes_key_length_bytes);
    const number_plaintext = Buffer.from(card.number, 'utf8');
    const cvc_plaintext = Buffer.from(card.cvc, 'utf8');
    let number: Sealed;
    let cvc: Sealed;
    let wrapped: Sealed;
    try {
      number = seal(data_key, number_plaintext, tokenBinding('number', owner));
      cvc = seal(data_key, cvc_plaintext, tokenBinding('cvc', owner));
      wrapped = kek.wrap(data_key, tokenBinding('data_key', owner));
    } finally {
      // Strings cannot be scrubbed in JavaScript, but buffers can: nothing is left in them.
      data_key.fill(0);
      number_plaintext.fill(0);
      cvc_plaintext.fill(0);
    }

    const token: Token = {
      id: owner.id,
      object: 'token',
      card: { brand: card.brand, last4: card.last4, exp_month: card.exp_month, exp_year: card.exp_year, fingerprint, funding: 'credit' },
      created: this.#nowSeconds(),
      livemode: tenant.livemode,
      used: false,
    };
    await this.#commits.run((tx) => tx.execute(
      `INSERT INTO vault_tokens (id, merchant_id, livemode, brand, last4, exp_month, exp_year, fingerprint, used, created, kek_id,
         data_key_ciphertext, data_key_iv, data_key_tag, number_ciphertext, number_iv, number_tag, cvc_ciphertext, cvc_iv, cvc_tag)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        token.id,
        tenant.merchant_id,
        tenant.livemode,
        card.brand,
        card.last4,
        card.exp_month,
        card.exp_year,
        fingerprint,
        false,
        token.created,
        kek.id,
        wrapped.ciphertext,
        wrapped.iv,
        wrapped.tag,
        number.ciphertext,
        number.iv,
        number.tag,
        cvc.ciphertext,
        cvc.iv,
        cvc.tag,
      ],
    ));
    return token;
  }

  /** The token, when it belongs to the tenant (merchant and mode); undefined otherwise, as if missing. */
  async getToken(tenant: Tenant, id: string): Promise<Token | undefined> {
    assertTenant(tenant);
    const [row] = await this.#database.query<TokenRow>(`SELECT ${token_columns} FROM vault_tokens WHERE id = ? AND merchant_id = ? AND livemode = ?`, [
      id,
      tenant.merchant_id,
      tenant.livemode,
    ]);
    return row === undefined ? undefined : tokenFromRow(row);
  }

  /**
   * The card in the clear, for a payment connector about to send it to its network. Never
   * exposed by the gateway, never to be logged. Not tenant-scoped: the payments service checks
   * that the token belongs to the merchant (getToken) before it hands the token id to a
   * connector. Every call is recorded in vault_detokenizations with the connector's name.
   * Throws not_found_error for an unknown token and VaultDecryptionError when the sealed data
   * does not open.
   */
  async detokenize(token_id: string, purpose: DetokenizePurpose): Promise<DetokenizedCard> {
    assertTokenId(token_id);
    assert(
      typeof purpose.connector === 'string' && purpose.connector !== '' && purpose.connector.length <= connector_name_length_max,
      `a detokenization names its connector in 1 to ${connector_name_length_max} characters`,
    );
    const [row] = await this.#database.query<SealedCardRow>(`SELECT ${sealed_card_columns} FROM vault_tokens WHERE id = ?`, [token_id]);
    if (row === undefined) throw notFound(token_id);
    // Recorded before the card is opened, so that a failed attempt leaves a trace too.
    const created = this.#nowSeconds();
    await this.#commits.run((tx) => tx.execute('INSERT INTO vault_detokenizations (token_id, connector, created) VALUES (?, ?, ?)', [token_id, purpose.connector, created]));

    const owner = ownerFromRow(row);
    const data_key = this.#unwrapDataKey(row);
    try {
      const number = this.#openField(data_key, sealedFromDatabase(row.number_ciphertext, row.number_iv, row.number_tag, 'number_'), 'number', owner, row.kek_id);
      let cvc: string | null = null;
      if (row.cvc_ciphertext !== null) {
        cvc = this.#openField(data_key, sealedFromDatabase(row.cvc_ciphertext, row.cvc_iv, row.cvc_tag, 'cvc_'), 'cvc', owner, row.kek_id);
      }
      assert(/^[0-9]+$/.test(number), 'a stored card number is digits');
      assert(cvc === null || /^[0-9]+$/.test(cvc), 'a stored CVC is digits');
      return { number, exp_month: row.exp_month, exp_year: row.exp_year, cvc };
    } finally {
      data_key.fill(0);
    }
  }

  #openField(data_key: Buffer, sealed: Sealed, field: 'number' | 'cvc', owner: TokenOwner, kek_id: string): string {
    const plaintext = open(data_key, sealed, tokenBinding(field, owner));
    if (plaintext === undefined) throw new VaultDecryptionError(`Token ${owner.id}`, 'authentication_failed', kek_id);
    const text = plaintext.toString('utf8');
    plaintext.fill(0);
    return text;
  }

  /**
   * Deletes the token's encrypted CVC for good: card rules forbid keeping it after the
   * authorization, encrypted or not. Idempotent; not_found_error for an unknown token.
   */
  async eraseCvc(token_id: string): Promise<void> {
    assertTokenId(token_id);
    await this.#prepareConnection();
    const { rowCount } = await this.#commits.run((tx) => tx.execute('UPDATE vault_tokens SET cvc_ciphertext = NULL, cvc_iv = NULL, cvc_tag = NULL WHERE id = ?', [token_id]));
    if (rowCount === 0) throw notFound(token_id);
  }

  /**
   * Claims the token for one use, atomically: a token pays for one payment attempt, ever, as
   * Stripe's tokens are consumed by their first use. `claimed` when this call took it; `held` when
   * `claimant` already held it (a retried confirmation with the same idempotency key); `already_used`
   * when someone else did; `missing` when the tenant has no such token. Under any concurrency
   * exactly one claimant gets `claimed`: the conditional update is decided by the database's row
   * lock (PostgreSQL) or its single writer (SQLite).
   */
  async claimToken(tenant: Tenant, token_id: string, claimant: string): Promise<TokenClaim> {
    assertTenant(tenant);
    assertTokenId(token_id);
    assert(typeof claimant === 'string' && claimant !== '', 'a token claimant is a non-empty string');
    const { rowCount } = await this.#commits.run((tx) =>
      tx.execute('UPDATE vault_tokens SET used = ?, used_by = ? WHERE id = ? AND merchant_id = ? AND livemode = ? AND used = ?', [
        true,
        claimant,
        token_id,
        tenant.merchant_id,
        tenant.livemode,
        false,
      ]),
    );
    if (rowCount === 1) return 'claimed';
    const [row] = await this.#database.query<{ used_by: string | null }>('SELECT used_by FROM vault_tokens WHERE id = ? AND merchant_id = ? AND livemode = ?', [
      token_id,
      tenant.merchant_id,
      tenant.livemode,
    ]);
    if (row === undefined) return 'missing';
    return row.used_by === claimant ? 'held' : 'already_used';
  }

  /**
   * Gives back a claim that paid for nothing: the caller refused the use before recording it (the
   * intent was in the wrong state, say). Only the claimant's own claim is released; anything else
   * is left alone, so a late or repeated release cannot free a token that another use holds.
   */
  async releaseToken(token_id: string, claimant: string): Promise<void> {
    assertTokenId(token_id);
    await this.#commits.run((tx) => tx.execute('UPDATE vault_tokens SET used = ?, used_by = NULL WHERE id = ? AND used_by = ?', [false, token_id, claimant]));
  }

  /** The newest reads of the token's card in the clear, at most detokenizations_listed_max. */
  async listDetokenizations(token_id: string): Promise<Detokenization[]> {
    assertTokenId(token_id);
    const rows = await this.#database.query<{ token_id: string; connector: string; created: number }>(
      'SELECT token_id, connector, created FROM vault_detokenizations WHERE token_id = ? ORDER BY sequence DESC LIMIT ?',
      [token_id, detokenizations_listed_max],
    );
    return rows.map((row) => ({ token: row.token_id, connector: row.connector, created: row.created }));
  }

  // ---- Rotation ---------------------------------------------------------------------------

  /** How many data keys each KEK wraps: every token's, and the fingerprint key. */
  async countDataKeysByKek(): Promise<Map<string, number>> {
    const rows = await this.#database.query<{ kek_id: string; data_keys: number }>(
      'SELECT kek_id, COUNT(*) AS data_keys FROM (SELECT kek_id FROM vault_tokens UNION ALL SELECT kek_id FROM vault_keys) wrapped GROUP BY kek_id',
    );
    return new Map(rows.map((row) => [row.kek_id, row.data_keys]));
  }

  /**
   * Re-wraps every data key (and the fingerprint key) not under the keyring's current KEK, in
   * batches of one transaction each. The card ciphertexts are not touched: only the data keys
   * change wrapping. Reads keep working all along, as each row names its KEK and the keyring holds
   * both. Idempotent: a second call finds nothing to do; a call that stops half-way (a crash) is
   * finished by calling again. A row under a key this service was not given stops it with
   * VaultDecryptionError.
   */
  async rewrapDataKeys(options: RewrapOptions = {}): Promise<RewrapResult> {
    return rewrapStore(this, this.#keyring, options);
  }

  /**
   * One transaction: the next batch_size tokens after `cursor` (a sequence) not yet under the
   * current KEK, re-wrapped under it. A pass starts (cursor 0) with the fingerprint key.
   */
  async rewrapBatch(cursor: number, batch_size: number): Promise<RewrapBatchResult> {
    const size = checkRewrapBatchSize(batch_size);
    const kek = this.#keyring.current;
    await this.#prepareConnection();
    const fingerprint_rewrapped = cursor === 0 ? await this.#rewrapFingerprintKey(kek) : 0;
    return this.#database.transaction(async (tx) => {
      const rows = await tx.query<WrappedDataKeyRow>(
        `SELECT ${wrapped_data_key_columns} FROM vault_tokens WHERE sequence > ? AND kek_id <> ? ORDER BY sequence LIMIT ?`,
        [cursor, kek.id, size],
      );
      let rewrapped = fingerprint_rewrapped;
      for (const row of rows) {
        const data_key = this.#unwrapDataKey(row);
        let wrapped: Sealed;
        try {
          wrapped = kek.wrap(data_key, tokenBinding('data_key', ownerFromRow(row)));
        } finally {
          data_key.fill(0);
        }
        // Only if no one re-wrapped it meanwhile (another rotation running at the same time).
        const { rowCount } = await tx.execute(
          'UPDATE vault_tokens SET kek_id = ?, data_key_ciphertext = ?, data_key_iv = ?, data_key_tag = ? WHERE id = ? AND kek_id = ?',
          [kek.id, wrapped.ciphertext, wrapped.iv, wrapped.tag, row.id, row.kek_id],
        );
        rewrapped += rowCount;
      }
      const last = rows.at(-1);
      return { rewrapped, next_cursor: rows.length < size || last === undefined ? undefined : last.sequence };
    });
  }

  /** 1 when it re-wrapped the fingerprint key, 0 when there was nothing to do. */
  async #rewrapFingerprintKey(new_kek: KeyEncryptionKey): Promise<number> {
    return this.#database.transaction(async (tx) => {
      const [row] = await tx.query<WrappedKeyRow>('SELECT kek_id, ciphertext, iv, tag FROM vault_keys WHERE name = ?', [fingerprint_key_name]);
      if (row === undefined || row.kek_id === new_kek.id) return 0;
      const key = this.#unwrap('The fingerprint key', row.kek_id, sealedFromDatabase(row.ciphertext, row.iv, row.tag, ''), fingerprint_key_binding);
      let wrapped: Sealed;
      try {
        wrapped = new_kek.wrap(key, fingerprint_key_binding);
      } finally {
        key.fill(0);
      }
      const { rowCount } = await tx.execute('UPDATE vault_keys SET kek_id = ?, ciphertext = ?, iv = ?, tag = ? WHERE name = ? AND kek_id = ?', [
        new_kek.id,
        wrapped.ciphertext,
        wrapped.iv,
        wrapped.tag,
        fingerprint_key_name,
        row.kek_id,
      ]);
      return rowCount;
    });
  }
}

// The identity service: operators, merchants, their API keys and signing secrets, customers,
// and the audit log. It owns its tables and nothing else; the gateway owns HTTP and decides who
// may call what (an Actor is who it says acted).
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import {
  ApiError,
  assert,
  randomId,
  rowLockClause,
  selectPage,
  systemClock,
  type Clock,
  type Database,
  type Page,
  type PageRequest,
  type RandomBytes,
  type Tenant,
} from '@paygrid/kernel';
import { checkRewrapBatchSize, rewrapStore, sealLegacyRows, type Keyring, type RewrapBatchResult, type RewrapOptions, type RewrapResult, type WrappedKeyStore } from '@paygrid/kernel/envelope';
import {
  apiKeyFromRow,
  auditEventFromRow,
  bytesFromDatabase,
  customerFromRow,
  merchantFromRow,
  operatorFromRow,
  optionalBytesFromDatabase,
  secondsFromMilliseconds,
  type ApiKeyRow,
  type AuditEventRow,
  type CustomerRow,
  type Listed,
  type MerchantRow,
  type OperatorRow,
  type SigningSecretsRow,
} from './rows';
import {
  apiKeyPrefix,
  containsSecret,
  hashSecret,
  isOperatorKeyShaped,
  operator_key_prefix,
  parseApiKey,
  randomSecret,
  redactSecret,
  signing_secret_prefix,
} from './secrets';
import { SigningSecretDecryptionError, SigningSecretSealer, signing_secrets_cached_max, type SealedSigningSecrets } from './signing-secrets';
import {
  actor_types,
  api_key_types,
  kyc_statuses,
  merchant_statuses,
  type Actor,
  type ApiKey,
  type ApiKeyType,
  type AuditAction,
  type AuditEvent,
  type AuditEventFilter,
  type AuditTarget,
  type AuthenticationResult,
  type CreateApiKeyInput,
  type CreateCustomerInput,
  type CreatedApiKey,
  type CreatedMerchant,
  type CreatedOperator,
  type CreateMerchantInput,
  type CreateOperatorInput,
  type Customer,
  type IdentityClient,
  type KycStatus,
  type Merchant,
  type MerchantPatch,
  type MerchantStatus,
  type Operator,
  type RolledApiKey,
  type RolledSigningSecret,
  type RollInput,
} from './types';
import { checkAllowedOrigins, checkCardNumberGuardExemptFields } from './browser-settings';
import { checkBoolean, checkEmail, checkGracePeriod, checkName, checkOneOf, checkText, description_length_max, name_length_max } from './validation';

export interface IdentityServiceOptions {
  /** Opened and migrated with identity_migrations by the platform. */
  readonly database: Database;
  /**
   * Seals signing secrets: the current KEK wraps each new merchant's data key, and previous ones
   * still open older rows during a rotation. Shared with the vault in one process.
   */
  readonly keyring: Keyring;
  readonly clock?: Clock;
  readonly randomBytes?: RandomBytes;
  /** Opened signing secrets kept in memory; signing_secrets_cached_max by default, 0 for none. */
  readonly signing_secrets_cached_max?: number;
}

/** Legacy rows sealed per transaction by the start-up step. */
export const legacy_sealing_batch_size = 500;

/**
 * An operator suspends a merchant and may reactivate it. A change to the same status is no
 * change at all. Every transition is appended to the audit log, so the history is queryable.
 */
export const merchant_status_transitions: Record<MerchantStatus, readonly MerchantStatus[]> = {
  active: ['suspended'],
  suspended: ['active'],
};

/**
 * KYC is reviewed once, and a verified merchant can later be found out and rejected; a rejected
 * one can be sent back for review or verified after an appeal. Verification is never silently
 * undone to pending: that would hide why live keys were allowed.
 */
export const kyc_status_transitions: Record<KycStatus, readonly KycStatus[]> = {
  pending: ['verified', 'rejected'],
  verified: ['rejected'],
  rejected: ['pending', 'verified'],
};

function checkTransition<State extends string>(transitions: Record<State, readonly State[]>, from: State, to: State, param: string): void {
  if (!transitions[from].includes(to)) {
    throw new ApiError('invalid_request_error', 'not_allowed', `${param} cannot change from '${from}' to '${to}'`, param);
  }
}

function notFound(kind: string, id: string, param = 'id'): ApiError {
  return new ApiError('not_found_error', 'resource_missing', `No such ${kind}: '${id}'`, param);
}

/** Actors are built by the gateway from an authenticated request: a malformed one is a bug. */
function assertActor(actor: Actor): void {
  assert(actor_types.includes(actor.type), `actor type '${String(actor.type)}' is not one of ${actor_types.join(', ')}`);
  assert(typeof actor.id === 'string' && actor.id !== '', 'an actor has an id');
}

/** Tenants come from authentication too. */
function assertTenant(tenant: Tenant): void {
  assert(typeof tenant.merchant_id === 'string' && tenant.merchant_id !== '', 'a tenant has a merchant id');
  assert(typeof tenant.livemode === 'boolean', 'a tenant has a boolean livemode');
}

/** A key stops working when it is revoked or its expiry (set by a roll) has come. */
function apiKeyInactive(row: ApiKeyRow, now_ms: number): boolean {
  return row.revoked_at_ms !== null || (row.expires_at_ms !== null && row.expires_at_ms <= now_ms);
}

function optionalText(value: unknown, param: string, length_max: number): string | null {
  return value === undefined || value === null ? null : checkText(value, param, length_max);
}

function optionalEmail(value: unknown): string | null {
  return value === undefined || value === null ? null : checkEmail(value);
}

const merchant_columns = 'id, name, email, status, kyc_status, signing_required, allowed_origins, card_number_guard_exempt_fields, created';
const signing_secrets_columns = 'signing_kek_id, signing_data_key, signing_secret_sealed, signing_secret_previous_sealed, signing_secret_previous_expires_at_ms';
const api_key_columns = 'id, merchant_id, type, livemode, redacted, created, expires_at_ms, revoked_at_ms';
const customer_columns = 'id, merchant_id, livemode, name, email, description, created';

/** One row of the authentication join: the key's columns and its merchant's, told apart by name. */
interface AuthenticationRow {
  readonly key_id: string;
  readonly key_type: string;
  readonly key_livemode: boolean | number;
  readonly key_redacted: string;
  readonly key_created: number;
  readonly key_expires_at_ms: number | null;
  readonly key_revoked_at_ms: number | null;
  readonly id: string;
  readonly name: string;
  readonly email: string | null;
  readonly status: string;
  readonly kyc_status: string;
  readonly signing_required: boolean | number;
  readonly signing_kek_id: string | null;
  readonly signing_data_key: unknown;
  readonly signing_secret_sealed: unknown;
  readonly signing_secret_previous_sealed: unknown;
  readonly signing_secret_previous_expires_at_ms: number | null;
  readonly allowed_origins: string;
  readonly card_number_guard_exempt_fields: string;
  readonly created: number;
}

// The hot path of every API request: one statement, found by the unique index on the key's
// hash and the merchant's primary key. No transaction and no write (no last_used column), so it
// never takes a lock; and no row is cached, so a suspension, a change of KYC status, a revocation
// or a rolled signing secret applies at once, to the very next request. (Opened signing secrets are kept in memory by their sealed value,
// which a roll replaces: see signing-secrets.ts.)
export const authentication_sql = `SELECT
  k.id AS key_id, k.type AS key_type, k.livemode AS key_livemode, k.redacted AS key_redacted, k.created AS key_created,
  k.expires_at_ms AS key_expires_at_ms, k.revoked_at_ms AS key_revoked_at_ms,
  m.id, m.name, m.email, m.status, m.kyc_status, m.signing_required, m.signing_kek_id, m.signing_data_key, m.signing_secret_sealed,
  m.signing_secret_previous_sealed, m.signing_secret_previous_expires_at_ms, m.allowed_origins, m.card_number_guard_exempt_fields, m.created
FROM identity_api_keys k JOIN identity_merchants m ON m.id = k.merchant_id
WHERE k.secret_hash = ?`;

/** A legacy row, as the start-up step reads it to seal it. */
interface LegacySigningSecretsRow {
  readonly sequence: number;
  readonly id: string;
  readonly signing_secret: string;
  readonly signing_secret_previous: string | null;
  readonly signing_secret_previous_expires_at_ms: number | null;
}

/** The sealed columns of one row, checked: undefined for a row not sealed yet. */
function sealedFromRow(row: SigningSecretsRow): SealedSigningSecrets | undefined {
  if (row.signing_kek_id === null) return undefined;
  return {
    kek_id: row.signing_kek_id,
    data_key: bytesFromDatabase(row.signing_data_key, 'signing_data_key'),
    current: bytesFromDatabase(row.signing_secret_sealed, 'signing_secret_sealed'),
    previous: optionalBytesFromDatabase(row.signing_secret_previous_sealed, 'signing_secret_previous_sealed'),
  };
}

export class IdentityService implements IdentityClient, WrappedKeyStore {
  readonly name = 'identity';
  readonly #database: Database;
  readonly #keyring: Keyring;
  readonly #secrets: SigningSecretSealer;
  readonly #clock: Clock;
  readonly #randomBytes: RandomBytes;

  constructor(options: IdentityServiceOptions) {
    this.#database = options.database;
    this.#keyring = options.keyring;
    this.#secrets = new SigningSecretSealer(options.keyring, options.signing_secrets_cached_max ?? signing_secrets_cached_max);
    this.#clock = options.clock ?? systemClock;
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
  }

  #nowSeconds(): number {
    return secondsFromMilliseconds(this.#clock.now());
  }

  // ---- Operators ----------------------------------------------------------------------------

  async createOperator(input: CreateOperatorInput, actor: Actor): Promise<CreatedOperator> {
    assertActor(actor);
    const name = checkName(input.name);
    const email = checkEmail(input.email);
    const secret = randomSecret(operator_key_prefix, this.#randomBytes);
    const operator: Operator = { id: randomId('op', this.#randomBytes), object: 'operator', name, email, created: this.#nowSeconds() };
    await this.#database.transaction(async (tx) => {
      await tx.execute('INSERT INTO identity_operators (id, name, email, secret_hash, created) VALUES (?, ?, ?, ?, ?)', [
        operator.id,
        name,
        email,
        hashSecret(secret),
        operator.created,
      ]);
      await this.#audit(tx, actor, 'operator.created', { type: 'operator', id: operator.id }, { name, email }, operator.created);
    });
    return { operator, secret };
  }

  async getOperator(id: string): Promise<Operator | undefined> {
    const rows = await this.#database.query<OperatorRow>('SELECT id, name, email, created FROM identity_operators WHERE id = ?', [id]);
    return rows[0] === undefined ? undefined : operatorFromRow(rows[0]);
  }

  /** The root operator has no stored key: the gateway compares PAYGRID_OPERATOR_KEY for it. */
  async authenticateOperator(secret: string): Promise<Operator | undefined> {
    if (typeof secret !== 'string' || !isOperatorKeyShaped(secret)) return undefined;
    const rows = await this.#database.query<OperatorRow>('SELECT id, name, email, created FROM identity_operators WHERE secret_hash = ?', [hashSecret(secret)]);
    return rows[0] === undefined ? undefined : operatorFromRow(rows[0]);
  }

  // ---- Merchants ----------------------------------------------------------------------------

  async createMerchant(input: CreateMerchantInput, actor: Actor): Promise<CreatedMerchant> {
    assertActor(actor);
    const name = checkName(input.name);
    const email = optionalEmail(input.email);
    const created = this.#nowSeconds();
    const merchant: Merchant = {
      id: randomId('mer', this.#randomBytes),
      object: 'merchant',
      name,
      email,
      status: 'active',
      kyc_status: 'pending',
      signing_required: false,
      allowed_origins: [],
      card_number_guard_exempt_fields: [],
      created,
    };
    const signing_secret = randomSecret(signing_secret_prefix, this.#randomBytes);
    const sealed = this.#secrets.seal(merchant.id, signing_secret, null);
    const { secret_key, publishable_key } = await this.#database.transaction(async (tx) => {
      // The plain-text column of version 1 is written '' (its triggers refuse anything else).
      await tx.execute(
        `INSERT INTO identity_merchants (id, name, email, status, kyc_status, signing_required, signing_secret, signing_kek_id, signing_data_key, signing_secret_sealed, created)
         VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?)`,
        [merchant.id, name, email, merchant.status, merchant.kyc_status, merchant.signing_required, sealed.kek_id, sealed.data_key, sealed.current, created],
      );
      await this.#audit(tx, actor, 'merchant.created', { type: 'merchant', id: merchant.id }, { name, email }, created);
      // A new merchant starts in test mode only: live keys wait for KYC.
      const secret_created = await this.#insertApiKey(tx, merchant.id, 'secret', false, actor, created, {});
      const publishable_created = await this.#insertApiKey(tx, merchant.id, 'publishable', false, actor, created, {});
      return { secret_key: secret_created.secret, publishable_key: publishable_created.secret };
    });
    return { merchant, secret_key, publishable_key, signing_secret };
  }

  async getMerchant(id: string): Promise<Merchant | undefined> {
    const rows = await this.#database.query<MerchantRow>(`SELECT ${merchant_columns} FROM identity_merchants WHERE id = ?`, [id]);
    return rows[0] === undefined ? undefined : merchantFromRow(rows[0]);
  }

  async listMerchants(page: PageRequest): Promise<Page<Merchant>> {
    const listed = await selectPage<Listed<MerchantRow>>(this.#database, { table: 'identity_merchants', where: '1 = 1', params: [], page });
    return { data: listed.data.map(merchantFromRow), has_more: listed.has_more };
  }

  async updateMerchant(id: string, patch: MerchantPatch, actor: Actor): Promise<Merchant> {
    assertActor(actor);
    // Checked before the transaction: a bad request never takes a lock.
    const changes: { name?: string; email?: string | null; status?: MerchantStatus; kyc_status?: KycStatus; signing_required?: boolean } = {};
    if (patch.name !== undefined) changes.name = checkName(patch.name);
    if (patch.email !== undefined) changes.email = patch.email === null ? null : checkEmail(patch.email);
    if (patch.status !== undefined) changes.status = checkOneOf(patch.status, merchant_statuses, 'status');
    if (patch.kyc_status !== undefined) changes.kyc_status = checkOneOf(patch.kyc_status, kyc_statuses, 'kyc_status');
    if (patch.signing_required !== undefined) changes.signing_required = checkBoolean(patch.signing_required, 'signing_required');
    // The lists are replaced whole and stored as JSON; a list equal to the stored one is no change.
    const lists: { allowed_origins?: string; card_number_guard_exempt_fields?: string } = {};
    if (patch.allowed_origins !== undefined) lists.allowed_origins = JSON.stringify(checkAllowedOrigins(patch.allowed_origins));
    if (patch.card_number_guard_exempt_fields !== undefined) {
      lists.card_number_guard_exempt_fields = JSON.stringify(checkCardNumberGuardExemptFields(patch.card_number_guard_exempt_fields));
    }

    return this.#database.transaction(async (tx) => {
      const row = await this.#lockMerchant(tx, id);
      const current = merchantFromRow(row);
      if (changes.kyc_status !== undefined && changes.kyc_status !== current.kyc_status) {
        checkTransition(kyc_status_transitions, current.kyc_status, changes.kyc_status, 'kyc_status');
      }
      const status_changed = changes.status !== undefined && changes.status !== current.status;
      if (changes.status !== undefined && status_changed) {
        checkTransition(merchant_status_transitions, current.status, changes.status, 'status');
      }
      const assignments: string[] = [];
      const values: unknown[] = [];
      const fields_changed: string[] = [];
      // The column names come from this fixed list, never from the request.
      for (const field of ['name', 'email', 'kyc_status', 'signing_required', 'status'] as const) {
        const value = changes[field];
        if (value === undefined || value === current[field]) continue;
        assignments.push(`${field} = ?`);
        values.push(value);
        // A status change has audit actions of its own.
        if (field !== 'status') fields_changed.push(field);
      }
      for (const field of ['allowed_origins', 'card_number_guard_exempt_fields'] as const) {
        const value = lists[field];
        if (value === undefined || value === row[field]) continue;
        assignments.push(`${field} = ?`);
        values.push(value);
        fields_changed.push(field);
      }
      if (assignments.length === 0) return current;

      await tx.execute(`UPDATE identity_merchants SET ${assignments.join(', ')} WHERE id = ?`, [...values, id]);
      const created = this.#nowSeconds();
      const target: AuditTarget = { type: 'merchant', id };
      if (status_changed) {
        await this.#audit(tx, actor, changes.status === 'suspended' ? 'merchant.suspended' : 'merchant.reactivated', target, {}, created);
      }
      if (fields_changed.length > 0) {
        await this.#audit(tx, actor, 'merchant.updated', target, { fields: fields_changed }, created);
      }
      return merchantFromRow(await this.#lockMerchant(tx, id));
    });
  }

  /**
   * Reads a merchant for a change. In PostgreSQL the row is locked until the transaction ends,
   * so concurrent changes apply one after the other; SQLite's transactions are serial already.
   */
  async #lockMerchant(tx: Database, id: string): Promise<MerchantRow> {
    const for_update = rowLockClause(tx);
    const rows = await tx.query<MerchantRow>(`SELECT ${merchant_columns} FROM identity_merchants WHERE id = ?${for_update}`, [id]);
    if (rows[0] === undefined) throw notFound('merchant', id);
    return rows[0];
  }

  async #merchantExists(id: string): Promise<boolean> {
    const rows = await this.#database.query('SELECT 1 AS found FROM identity_merchants WHERE id = ?', [id]);
    return rows.length > 0;
  }

  // ---- API keys -----------------------------------------------------------------------------

  async createApiKey(merchant_id: string, input: CreateApiKeyInput, actor: Actor): Promise<CreatedApiKey> {
    assertActor(actor);
    const type = checkOneOf(input.type, api_key_types, 'type');
    const livemode = checkBoolean(input.livemode, 'livemode');
    return this.#database.transaction(async (tx) => {
      const merchant = merchantFromRow(await this.#lockMerchant(tx, merchant_id));
      if (livemode && merchant.kyc_status !== 'verified') {
        throw new ApiError('invalid_request_error', 'merchant_kyc_required', `Live keys need a merchant whose KYC is verified; it is '${merchant.kyc_status}'`, 'livemode');
      }
      return this.#insertApiKey(tx, merchant_id, type, livemode, actor, this.#nowSeconds(), {});
    });
  }

  async listApiKeys(merchant_id: string, page: PageRequest): Promise<Page<ApiKey>> {
    if (!(await this.#merchantExists(merchant_id))) throw notFound('merchant', merchant_id, 'merchant');
    const listed = await selectPage<Listed<ApiKeyRow>>(this.#database, {
      table: 'identity_api_keys',
      where: 'merchant_id = ?',
      params: [merchant_id],
      page,
    });
    return { data: listed.data.map(apiKeyFromRow), has_more: listed.has_more };
  }

  async rollApiKey(merchant_id: string, key_id: string, input: RollInput, actor: Actor): Promise<RolledApiKey> {
    assertActor(actor);
    const grace_period_seconds = checkGracePeriod(input.expires_in_seconds);
    return this.#database.transaction(async (tx) => {
      const now_ms = this.#clock.now();
      const row = await this.#lockActiveApiKey(tx, merchant_id, key_id, now_ms);
      // A roll never lengthens a key's life: rolling a key already in its grace period keeps
      // the earlier end.
      const grace_end_ms = now_ms + grace_period_seconds * 1000;
      const expires_at_ms = row.expires_at_ms === null ? grace_end_ms : Math.min(row.expires_at_ms, grace_end_ms);
      await tx.execute('UPDATE identity_api_keys SET expires_at_ms = ? WHERE id = ?', [expires_at_ms, key_id]);
      const previous = apiKeyFromRow({ ...row, expires_at_ms });
      const created = secondsFromMilliseconds(now_ms);
      const type = previous.type;
      const rolled = await this.#insertApiKey(tx, merchant_id, type, previous.livemode, actor, created, { rolled_from: key_id });
      await this.#audit(
        tx,
        actor,
        'api_key.rolled',
        { type: 'api_key', id: key_id },
        { merchant: merchant_id, new_api_key: rolled.api_key.id, expires_at: previous.expires_at },
        created,
      );
      return { api_key: rolled.api_key, secret: rolled.secret, previous };
    });
  }

  async revokeApiKey(merchant_id: string, key_id: string, actor: Actor): Promise<ApiKey> {
    assertActor(actor);
    return this.#database.transaction(async (tx) => {
      const now_ms = this.#clock.now();
      const row = await this.#lockActiveApiKey(tx, merchant_id, key_id, now_ms);
      await tx.execute('UPDATE identity_api_keys SET revoked_at_ms = ? WHERE id = ?', [now_ms, key_id]);
      await this.#audit(tx, actor, 'api_key.revoked', { type: 'api_key', id: key_id }, { merchant: merchant_id }, secondsFromMilliseconds(now_ms));
      return apiKeyFromRow({ ...row, revoked_at_ms: now_ms });
    });
  }

  /** Another merchant's key reads as missing, so key ids cannot be probed. */
  async #lockActiveApiKey(tx: Database, merchant_id: string, key_id: string, now_ms: number): Promise<ApiKeyRow> {
    const for_update = rowLockClause(tx);
    const rows = await tx.query<ApiKeyRow>(`SELECT ${api_key_columns} FROM identity_api_keys WHERE id = ? AND merchant_id = ?${for_update}`, [key_id, merchant_id]);
    const row = rows[0];
    if (row === undefined) throw notFound('api_key', key_id);
    if (apiKeyInactive(row, now_ms)) {
      throw new ApiError('invalid_request_error', 'api_key_inactive', `The API key '${key_id}' is ${row.revoked_at_ms === null ? 'expired' : 'revoked'}`, 'id');
    }
    return row;
  }

  async #insertApiKey(
    tx: Database,
    merchant_id: string,
    type: ApiKeyType,
    livemode: boolean,
    actor: Actor,
    created: number,
    audit_data: Record<string, unknown>,
  ): Promise<CreatedApiKey> {
    const prefix = apiKeyPrefix(type, livemode);
    const secret = randomSecret(prefix, this.#randomBytes);
    const api_key: ApiKey = {
      id: randomId('key', this.#randomBytes),
      object: 'api_key',
      merchant: merchant_id,
      type,
      livemode,
      redacted: redactSecret(prefix, secret),
      created,
      expires_at: null,
      revoked_at: null,
    };
    await tx.execute('INSERT INTO identity_api_keys (id, merchant_id, type, livemode, secret_hash, redacted, created) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      api_key.id,
      merchant_id,
      type,
      livemode,
      hashSecret(secret),
      api_key.redacted,
      created,
    ]);
    await this.#audit(tx, actor, 'api_key.created', { type: 'api_key', id: api_key.id }, { merchant: merchant_id, type, livemode, ...audit_data }, created);
    return { api_key, secret };
  }

  // ---- Signing secrets ----------------------------------------------------------------------

  /**
   * Replaces the signing secret. The previous one keeps verifying signatures until its grace
   * period ends; only one previous secret is kept, so a second roll ends the first one's grace.
   */
  async rollSigningSecret(merchant_id: string, input: RollInput, actor: Actor): Promise<RolledSigningSecret> {
    assertActor(actor);
    const grace_period_seconds = checkGracePeriod(input.expires_in_seconds);
    const result = await this.#database.transaction(async (tx) => {
      const row = await this.#lockSigningSecrets(tx, merchant_id);
      const stored = sealedFromRow(row);
      if (stored === undefined) throw new SigningSecretDecryptionError(merchant_id, 'not_sealed', null);
      const now_ms = this.#clock.now();
      const signing_secret = randomSecret(signing_secret_prefix, this.#randomBytes);
      // With no grace period the old secret is dropped rather than kept, dead, in the table.
      const previous = grace_period_seconds === 0 ? null : this.#secrets.open(merchant_id, stored.kek_id, stored.data_key, stored.current, 'current');
      const previous_expires_at_ms = grace_period_seconds === 0 ? null : now_ms + grace_period_seconds * 1000;
      // A new data key for every roll, under the current KEK; the previous secret is sealed again
      // under it, in its own slot.
      const sealed = this.#secrets.seal(merchant_id, signing_secret, previous);
      await tx.execute(
        `UPDATE identity_merchants SET signing_kek_id = ?, signing_data_key = ?, signing_secret_sealed = ?, signing_secret_previous_sealed = ?,
           signing_secret_previous_expires_at_ms = ? WHERE id = ?`,
        [sealed.kek_id, sealed.data_key, sealed.current, sealed.previous, previous_expires_at_ms, merchant_id],
      );
      const previous_expires_at = previous_expires_at_ms === null ? secondsFromMilliseconds(now_ms) : secondsFromMilliseconds(previous_expires_at_ms);
      await this.#audit(tx, actor, 'signing_secret.rolled', { type: 'merchant', id: merchant_id }, { previous_expires_at }, secondsFromMilliseconds(now_ms));
      return { signing_secret, replaced: stored };
    });
    // What this process opened of the replaced seals is of no more use; other processes let theirs age out.
    this.#secrets.forget(merchant_id, result.replaced.current, 'current');
    if (result.replaced.previous !== null) this.#secrets.forget(merchant_id, result.replaced.previous, 'previous');
    return { signing_secret: result.signing_secret };
  }

  /** The merchant's signing secrets as stored, locked for a change (PostgreSQL); not_found_error when there is no such merchant. */
  async #lockSigningSecrets(tx: Database, merchant_id: string): Promise<SigningSecretsRow> {
    const rows = await tx.query<SigningSecretsRow>(`SELECT ${signing_secrets_columns} FROM identity_merchants WHERE id = ?${rowLockClause(tx)}`, [merchant_id]);
    if (rows[0] === undefined) throw notFound('merchant', merchant_id);
    return rows[0];
  }

  /** The current secret, then the previous one while its grace period lasts. Throws SigningSecretDecryptionError. */
  #openSigningSecrets(merchant_id: string, row: SigningSecretsRow, now_ms: number): string[] {
    const sealed = sealedFromRow(row);
    if (sealed === undefined) throw new SigningSecretDecryptionError(merchant_id, 'not_sealed', null);
    const secrets = [this.#secrets.open(merchant_id, sealed.kek_id, sealed.data_key, sealed.current, 'current')];
    if (sealed.previous !== null && row.signing_secret_previous_expires_at_ms !== null && now_ms < row.signing_secret_previous_expires_at_ms) {
      secrets.push(this.#secrets.open(merchant_id, sealed.kek_id, sealed.data_key, sealed.previous, 'previous'));
    }
    return secrets;
  }

  // ---- Signing secrets at rest: the start-up step and key rotation ----------------------------

  /**
   * Seals every signing secret still stored in plain text (rows written before migration 2), in
   * batches of one transaction each, and empties the plain-text columns. The platform runs it at
   * every start, before serving: idempotent, and one indexed query when there is nothing left.
   * A previous secret whose grace period has ended is dropped rather than sealed. On SQLite, the
   * freed bytes are zeroed (secure_delete), and after sealing anything the file is rebuilt
   * (VACUUM) and the write-ahead log emptied, so that no plain text is left in free pages: older
   * rolls left their secrets there too. Returns how many merchants it sealed.
   */
  async sealLegacySigningSecrets(options: { readonly batch_size?: number } = {}): Promise<number> {
    const batch_size = checkRewrapBatchSize(options.batch_size ?? legacy_sealing_batch_size);
    return sealLegacyRows(this.#database, async (tx) => {
      const rows = await tx.query<LegacySigningSecretsRow>(
        `SELECT sequence, id, signing_secret, signing_secret_previous, signing_secret_previous_expires_at_ms FROM identity_merchants
         WHERE signing_kek_id IS NULL ORDER BY sequence LIMIT ?${rowLockClause(tx)}`,
        [batch_size],
      );
      const now_ms = this.#clock.now();
      let count = 0;
      for (const row of rows) {
        assert(row.signing_secret.startsWith(signing_secret_prefix), `merchant ${row.id} has no signing secret to seal`);
        const previous_live = row.signing_secret_previous !== null && row.signing_secret_previous_expires_at_ms !== null && now_ms < row.signing_secret_previous_expires_at_ms;
        const secrets = this.#secrets.seal(row.id, row.signing_secret, previous_live ? row.signing_secret_previous : null);
        const { rowCount } = await tx.execute(
          `UPDATE identity_merchants SET signing_secret = '', signing_secret_previous = NULL, signing_kek_id = ?, signing_data_key = ?, signing_secret_sealed = ?,
             signing_secret_previous_sealed = ?, signing_secret_previous_expires_at_ms = ? WHERE id = ? AND signing_kek_id IS NULL`,
          [secrets.kek_id, secrets.data_key, secrets.current, secrets.previous, previous_live ? row.signing_secret_previous_expires_at_ms : null, row.id],
        );
        count += rowCount;
      }
      return { count, more: rows.length === batch_size };
    });
  }

  /**
   * For start-up, so that a missing key stops the process instead of the first signed request:
   * checks that every KEK that wraps a merchant's data key is in the keyring and that no secret
   * is left unsealed. Throws SigningSecretDecryptionError otherwise. Returns the ids of the KEKs
   * in use (more than one while a rotation is unfinished).
   */
  async checkKeys(): Promise<string[]> {
    const [unsealed] = await this.#database.query<{ id: string }>('SELECT id FROM identity_merchants WHERE signing_kek_id IS NULL LIMIT 1');
    if (unsealed !== undefined) throw new SigningSecretDecryptionError(unsealed.id, 'not_sealed', null);
    const counts = await this.countDataKeysByKek();
    for (const kek_id of counts.keys()) {
      if (!this.#secrets.holds(kek_id)) {
        const [row] = await this.#database.query<{ id: string }>('SELECT id FROM identity_merchants WHERE signing_kek_id = ? LIMIT 1', [kek_id]);
        throw new SigningSecretDecryptionError(row?.id ?? 'unknown', 'key_unavailable', kek_id);
      }
    }
    return [...counts.keys()].sort();
  }

  /** How many merchants' data keys each KEK wraps. */
  async countDataKeysByKek(): Promise<Map<string, number>> {
    const rows = await this.#database.query<{ kek_id: string; data_keys: number }>(
      'SELECT signing_kek_id AS kek_id, COUNT(*) AS data_keys FROM identity_merchants WHERE signing_kek_id IS NOT NULL GROUP BY signing_kek_id',
    );
    return new Map(rows.map((row) => [row.kek_id, row.data_keys]));
  }

  /**
   * Re-wraps every merchant's data key not under the keyring's current KEK, in batches of one
   * transaction each; the sealed secrets are not touched. Resumable and idempotent, as the
   * vault's. A row under a key this process was not given stops it with SigningSecretDecryptionError.
   */
  async rewrapDataKeys(options: RewrapOptions = {}): Promise<RewrapResult> {
    return rewrapStore(this, this.#keyring, options);
  }

  /** One transaction: the next batch_size merchants after `cursor` (a sequence) whose data key is not under the current KEK. */
  async rewrapBatch(cursor: number, batch_size: number): Promise<RewrapBatchResult> {
    const size = checkRewrapBatchSize(batch_size);
    const current_kek_id = this.#keyring.current.id;
    return this.#database.transaction(async (tx) => {
      const rows = await tx.query<{ sequence: number; id: string; signing_kek_id: string; signing_data_key: unknown }>(
        'SELECT sequence, id, signing_kek_id, signing_data_key FROM identity_merchants WHERE sequence > ? AND signing_kek_id <> ? ORDER BY sequence LIMIT ?',
        [cursor, current_kek_id, size],
      );
      let rewrapped = 0;
      for (const row of rows) {
        const data_key = bytesFromDatabase(row.signing_data_key, 'signing_data_key');
        const next = this.#secrets.rewrap(row.id, row.signing_kek_id, data_key);
        // Only if the data key is still the one read: a roll meanwhile replaced it with a new one
        // (under the current key), which must not be overwritten with the old one re-wrapped.
        const { rowCount } = await tx.execute('UPDATE identity_merchants SET signing_kek_id = ?, signing_data_key = ? WHERE id = ? AND signing_kek_id = ? AND signing_data_key = ?', [
          next.kek_id,
          next.data_key,
          row.id,
          row.signing_kek_id,
          data_key,
        ]);
        rewrapped += rowCount;
      }
      const last = rows.at(-1);
      return { rewrapped, next_cursor: rows.length < size || last === undefined ? undefined : last.sequence };
    });
  }

  // ---- Authentication -----------------------------------------------------------------------

  /**
   * Checks a presented API key. Failures are values, ordered by precedence: a key that is not
   * ours, then the key's own state (revoked before expired). The merchant comes back with its
   * status and KYC status as they are now, whatever they are: what each state allows is decided
   * by the gateway's table of what a merchant may do (decision 65).
   */
  async authenticate(presented_key: string): Promise<AuthenticationResult> {
    // Garbage never reaches the database. The lookup itself is by hash, so its timing says
    // nothing about the stored keys that could help guess one.
    if (typeof presented_key !== 'string') return { ok: false, code: 'api_key_invalid' };
    const shape = parseApiKey(presented_key);
    if (shape === undefined) return { ok: false, code: 'api_key_invalid' };
    const rows = await this.#database.query<AuthenticationRow>(authentication_sql, [hashSecret(presented_key)]);
    const row = rows[0];
    if (row === undefined) return { ok: false, code: 'api_key_invalid' };
    const now_ms = this.#clock.now();
    const key_row: ApiKeyRow = {
      id: row.key_id,
      merchant_id: row.id,
      type: row.key_type,
      livemode: row.key_livemode,
      redacted: row.key_redacted,
      created: row.key_created,
      expires_at_ms: row.key_expires_at_ms,
      revoked_at_ms: row.key_revoked_at_ms,
    };
    const api_key = apiKeyFromRow(key_row);
    // The hash matched, so the key is the one stored; its prefix was drawn from its type and mode.
    assert(api_key.type === shape.type, 'a stored API key has the type its prefix says');
    assert(api_key.livemode === shape.livemode, 'a stored API key has the mode its prefix says');
    if (key_row.revoked_at_ms !== null) return { ok: false, code: 'api_key_revoked' };
    if (key_row.expires_at_ms !== null && key_row.expires_at_ms <= now_ms) return { ok: false, code: 'api_key_expired' };
    const merchant = merchantFromRow(row);
    const signing_secrets = this.#openSigningSecrets(merchant.id, row, now_ms);
    return { ok: true, merchant, api_key, livemode: api_key.livemode, signing_secrets };
  }

  // ---- Customers ----------------------------------------------------------------------------

  async createCustomer(tenant: Tenant, input: CreateCustomerInput): Promise<Customer> {
    assertTenant(tenant);
    const customer: Customer = {
      id: randomId('cus', this.#randomBytes),
      object: 'customer',
      name: optionalText(input.name, 'name', name_length_max),
      email: optionalEmail(input.email),
      description: optionalText(input.description, 'description', description_length_max),
      created: this.#nowSeconds(),
      livemode: tenant.livemode,
    };
    await this.#database.execute(
      'INSERT INTO identity_customers (id, merchant_id, livemode, name, email, description, created) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [customer.id, tenant.merchant_id, tenant.livemode, customer.name, customer.email, customer.description, customer.created],
    );
    return customer;
  }

  async getCustomer(tenant: Tenant, id: string): Promise<Customer | undefined> {
    assertTenant(tenant);
    const rows = await this.#database.query<CustomerRow>(`SELECT ${customer_columns} FROM identity_customers WHERE id = ? AND merchant_id = ? AND livemode = ?`, [
      id,
      tenant.merchant_id,
      tenant.livemode,
    ]);
    return rows[0] === undefined ? undefined : customerFromRow(rows[0]);
  }

  async listCustomers(tenant: Tenant, page: PageRequest): Promise<Page<Customer>> {
    assertTenant(tenant);
    const listed = await selectPage<Listed<CustomerRow>>(this.#database, {
      table: 'identity_customers',
      where: 'merchant_id = ? AND livemode = ?',
      params: [tenant.merchant_id, tenant.livemode],
      page,
    });
    return { data: listed.data.map(customerFromRow), has_more: listed.has_more };
  }

  async customerExists(tenant: Tenant, id: string): Promise<boolean> {
    assertTenant(tenant);
    const rows = await this.#database.query('SELECT 1 AS found FROM identity_customers WHERE id = ? AND merchant_id = ? AND livemode = ?', [
      id,
      tenant.merchant_id,
      tenant.livemode,
    ]);
    return rows.length > 0;
  }

  // ---- Audit log ----------------------------------------------------------------------------

  async listAuditEvents(page: PageRequest, filter: AuditEventFilter = {}): Promise<Page<AuditEvent>> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.target_id !== undefined) {
      conditions.push('target_id = ?');
      params.push(filter.target_id);
    }
    if (filter.actor_id !== undefined) {
      conditions.push('actor_id = ?');
      params.push(filter.actor_id);
    }
    const listed = await selectPage<Listed<AuditEventRow>>(this.#database, {
      table: 'identity_audit_events',
      where: conditions.length === 0 ? '1 = 1' : conditions.join(' AND '),
      params,
      page,
    });
    return { data: listed.data.map(auditEventFromRow), has_more: listed.has_more };
  }

  /**
   * Appends one audit event inside the transaction of the change it records, so that the log
   * never misses a change nor records one that rolled back. The only statement this service runs
   * on the table is this INSERT.
   */
  async #audit(tx: Database, actor: Actor, action: AuditAction, target: AuditTarget, data: Record<string, unknown>, created: number): Promise<void> {
    const json = JSON.stringify(data);
    assert(!containsSecret(json), `audit event ${action} data must never hold a secret`);
    await tx.execute(
      'INSERT INTO identity_audit_events (id, actor_type, actor_id, action, target_type, target_id, data, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [randomId('aev', this.#randomBytes), actor.type, actor.id, action, target.type, target.id, json, created],
    );
  }
}

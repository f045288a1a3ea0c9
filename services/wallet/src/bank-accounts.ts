// Withdrawals' bank account numbers at rest. A withdrawal keeps the account it pays out to, since
// recovery may have to send it to the bank again after a restart; the full number is sealed with
// the kernel's envelope encryption, as card data is: each withdrawal has a random data key that
// seals its account number (AES-256-GCM), stored wrapped by the key-encryption key (KEK), which
// never touches the database. A KEK rotation re-wraps the data key and leaves the sealed number
// alone. The last four digits stay readable, for the API and the dashboard; the number is opened
// only in memory, to hand it to the bank, and never cached.
//
// BankAccountKeys is the wallet's store for a KEK rotation (the kernel's WrappedKeyStore), and
// holds the start-up step that seals numbers stored in plain text before migration 7.
import { assert, rowLockClause, type Database } from '@paygrid/kernel';
import {
  checkRewrapBatchSize,
  FieldSealer,
  SealedFieldError,
  sealLegacyRows,
  type Keyring,
  type RewrapBatchResult,
  type SealedField,
  type WrappedKeyStore,
} from '@paygrid/kernel/envelope';
import type { CheckedBankAccount } from './validation';

/** How many digits of an account number are shown. */
export const account_number_shown_length = 4;
/** Withdrawals sealed per transaction by the start-up step that seals numbers stored in plain text. */
export const legacy_sealing_batch_size = 500;

/** The first part of every AAD the wallet seals with, so that no other service's ciphertext opens here. */
const binding_domain = 'paygrid-wallet';

/** A bank account as a withdrawal's row keeps it: everything but the account number readable. */
export interface StoredBankAccount {
  readonly account_holder_name: string;
  readonly routing_number: string;
  readonly country: string;
  readonly last4: string;
  readonly account_number: SealedField;
}

/** The withdrawal an account number belongs to: its seal opens for this row only. */
export interface BankAccountOwner {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
}

function owner(withdrawal: BankAccountOwner): [string, boolean, string] {
  return [withdrawal.merchant_id, withdrawal.livemode, withdrawal.id];
}

export function accountNumberLast4(account_number: string): string {
  return account_number.slice(-account_number_shown_length);
}

export class BankAccountSealer {
  readonly #sealer: FieldSealer;

  constructor(keyring: Keyring) {
    // Nothing is cached: a number is opened once per submission to the bank, which is rare.
    this.#sealer = new FieldSealer(keyring, binding_domain, 'bank_account_number', 0);
  }

  get current_kek_id(): string {
    return this.#sealer.current_kek_id;
  }

  holds(kek_id: string): boolean {
    return this.#sealer.holds(kek_id);
  }

  seal(withdrawal: BankAccountOwner, account: CheckedBankAccount): StoredBankAccount {
    return {
      account_holder_name: account.account_holder_name,
      routing_number: account.routing_number,
      country: account.country,
      last4: accountNumberLast4(account.account_number),
      account_number: this.sealNumber(withdrawal, account.account_number),
    };
  }

  sealNumber(withdrawal: BankAccountOwner, account_number: string): SealedField {
    return this.#sealer.seal(owner(withdrawal), account_number);
  }

  /** The account with its full number, for the bank only. Throws SealedFieldError. */
  open(withdrawal: BankAccountOwner, account: StoredBankAccount): CheckedBankAccount {
    return {
      account_holder_name: account.account_holder_name,
      routing_number: account.routing_number,
      account_number: this.#sealer.open(owner(withdrawal), account.account_number),
      country: account.country,
    };
  }

  rewrap(withdrawal: BankAccountOwner, kek_id: string, data_key: Buffer): { readonly kek_id: string; readonly data_key: Buffer } {
    return this.#sealer.rewrap(owner(withdrawal), kek_id, data_key);
  }
}

function bytesFromRow(value: unknown, column: string): Buffer {
  assert(Buffer.isBuffer(value), `column ${column} holds bytes`);
  return value;
}

function booleanFromRow(value: unknown): boolean {
  assert(value === true || value === false || value === 0 || value === 1, 'column livemode holds a boolean');
  return value === true || value === 1;
}

interface KeyRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly kek_id: string;
  readonly data_key: unknown;
}

/** The wallet's sealed account numbers, as a KEK rotation and the start-up step see them. */
export class BankAccountKeys implements WrappedKeyStore {
  readonly name = 'wallet';
  readonly #database: Database;
  readonly #sealer: BankAccountSealer;

  constructor(options: { readonly database: Database; readonly keyring: Keyring }) {
    this.#database = options.database;
    this.#sealer = new BankAccountSealer(options.keyring);
  }

  /**
   * Seals every account number still stored in plain text (withdrawals written before migration
   * 7), in batches of one transaction each, and empties the plain-text column. The platform runs
   * it at every start, before the wallet: idempotent, and one indexed query when there is nothing
   * left. On SQLite the freed bytes are zeroed (secure_delete), and after sealing anything the
   * file is rebuilt (VACUUM) and the write-ahead log emptied, so that no plain text is left in
   * free pages. Returns how many withdrawals it sealed.
   */
  async sealLegacy(options: { readonly batch_size?: number } = {}): Promise<number> {
    const batch_size = checkRewrapBatchSize(options.batch_size ?? legacy_sealing_batch_size);
    const [unsealed] = await this.#database.query<{ id: string }>('SELECT id FROM wallet_operations WHERE bank_account_number IS NOT NULL LIMIT 1');
    if (unsealed === undefined) return 0;
    return sealLegacyRows(this.#database, async (tx) => {
      const rows = await tx.query<{ id: string; merchant_id: string; livemode: boolean | number; account_number: string }>(
        `SELECT id, merchant_id, livemode, bank_account_number AS account_number FROM wallet_operations
         WHERE bank_account_number IS NOT NULL ORDER BY sequence LIMIT ?${rowLockClause(tx)}`,
        [batch_size],
      );
      let count = 0;
      for (const row of rows) {
        const withdrawal = { id: row.id, merchant_id: row.merchant_id, livemode: booleanFromRow(row.livemode) };
        const sealed = this.#sealer.sealNumber(withdrawal, row.account_number);
        const { rowCount } = await tx.execute(
          `UPDATE wallet_operations SET bank_account_number = NULL, bank_kek_id = ?, bank_data_key = ?, bank_account_number_sealed = ?, bank_account_last4 = ?
           WHERE id = ? AND bank_account_number IS NOT NULL`,
          [sealed.kek_id, sealed.data_key, sealed.sealed, accountNumberLast4(row.account_number), row.id],
        );
        count += rowCount;
      }
      return { count, more: rows.length === batch_size };
    });
  }

  /**
   * For start-up, so that a missing key stops the process instead of a withdrawal's resend: no
   * number is left unsealed, and every KEK a withdrawal's data key is wrapped by is in the
   * keyring. Throws SealedFieldError otherwise. Returns the ids of the KEKs in use.
   */
  async checkKeys(): Promise<string[]> {
    const [unsealed] = await this.#database.query<{ id: string }>('SELECT id FROM wallet_operations WHERE bank_account_number IS NOT NULL LIMIT 1');
    assert(unsealed === undefined, `withdrawal ${unsealed?.id ?? ''} has a sealed account number: sealLegacy runs first`);
    const counts = await this.countDataKeysByKek();
    for (const kek_id of counts.keys()) {
      if (!this.#sealer.holds(kek_id)) {
        const [row] = await this.#database.query<{ id: string }>('SELECT id FROM wallet_operations WHERE bank_kek_id = ? LIMIT 1', [kek_id]);
        throw new SealedFieldError('bank_account_number', `withdrawal ${row?.id ?? 'unknown'}`, 'key_unavailable', kek_id);
      }
    }
    return [...counts.keys()].sort();
  }

  async countDataKeysByKek(): Promise<Map<string, number>> {
    const rows = await this.#database.query<{ kek_id: string; data_keys: number | string }>(
      'SELECT bank_kek_id AS kek_id, COUNT(*) AS data_keys FROM wallet_operations WHERE bank_kek_id IS NOT NULL GROUP BY bank_kek_id',
    );
    return new Map(rows.map((row) => [row.kek_id, Number(row.data_keys)]));
  }

  /** One transaction: the next batch_size withdrawals after `cursor` (a sequence) whose data key is not under the current KEK. */
  async rewrapBatch(cursor: number, batch_size: number): Promise<RewrapBatchResult> {
    const size = checkRewrapBatchSize(batch_size);
    const current_kek_id = this.#sealer.current_kek_id;
    return this.#database.transaction(async (tx) => {
      const rows = await tx.query<KeyRow>(
        `SELECT sequence, id, merchant_id, livemode, bank_kek_id AS kek_id, bank_data_key AS data_key FROM wallet_operations
         WHERE sequence > ? AND bank_kek_id <> ? ORDER BY sequence LIMIT ?`,
        [cursor, current_kek_id, size],
      );
      let rewrapped = 0;
      for (const row of rows) {
        const data_key = bytesFromRow(row.data_key, 'bank_data_key');
        const next = this.#sealer.rewrap({ id: row.id, merchant_id: row.merchant_id, livemode: booleanFromRow(row.livemode) }, row.kek_id, data_key);
        // Only if the data key is still the one read.
        const { rowCount } = await tx.execute('UPDATE wallet_operations SET bank_kek_id = ?, bank_data_key = ? WHERE id = ? AND bank_kek_id = ? AND bank_data_key = ?', [
          next.kek_id,
          next.data_key,
          row.id,
          row.kek_id,
          data_key,
        ]);
        rewrapped += rowCount;
      }
      const last = rows.at(-1);
      return { rewrapped, next_cursor: rows.length < size || last === undefined ? undefined : last.sequence };
    });
  }
}

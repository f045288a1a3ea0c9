// Each later version of the wallet's tables (refunds, top-ups from payments, restorations, sealed
// account numbers, saga runs) must upgrade a database written by the one before without losing a
// row, a sequence value or an index, on both dialects.
import { join } from 'node:path';
import { createPostgresDatabase, createPostgresPool, createSqliteDatabase, openSqlite, type ServiceDatabase } from '@paygrid/kernel';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { describe, expect, it } from 'vitest';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { BankAccountKeys, BankAccountSealer, type StoredBankAccount } from './bank-accounts';
import { wallet_migrations } from './migrations';

function upgradeSuite(open: () => Promise<{ database: ServiceDatabase; cleanup: () => Promise<void> }>): void {
  it('keeps version 1 rows and lets version 2 store refunds, and each later version upgrade them', async () => {
    const { database, cleanup } = await open();
    try {
      expect(await database.migrate(wallet_migrations.slice(0, 1))).toEqual([1]);
      await database.execute(
        `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
           ledger_transfer_id, attempt, next_attempt_ms, created)
         VALUES ('wpy_1', 'acct_1', ?, 'payment', 'wal_1', NULL, 500, 'usd', 'succeeded', '1', 1, 0, 0)`,
        [false],
      );
      // Version 1 refuses the new type.
      await expect(
        database.execute(
          `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
             ledger_transfer_id, attempt, next_attempt_ms, created)
           VALUES ('wrf_0', 'acct_1', ?, 'refund', NULL, 'wal_1', 100, 'usd', 'pending', '2', 1, 0, 0)`,
          [false],
        ),
      ).rejects.toThrow();

      expect(await database.migrate(wallet_migrations.slice(0, 4))).toEqual([2, 3, 4]);
      await database.execute(
        `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
           ledger_transfer_id, attempt, next_attempt_ms, created, refunded_payment_id)
         VALUES ('wrf_1', 'acct_1', ?, 'refund', NULL, 'wal_1', 100, 'usd', 'pending', '3', 1, 0, 0, 'wpy_1')`,
        [false],
      );
      const rows = await database.query<{ id: string; sequence: number | string; refunded_payment_id: string | null }>(
        'SELECT id, sequence, refunded_payment_id FROM wallet_operations ORDER BY sequence',
      );
      expect(rows.map((row) => [row.id, Number(row.sequence) > 0, row.refunded_payment_id])).toEqual([
        ['wpy_1', true, null],
        ['wrf_1', true, 'wpy_1'],
      ]);
      expect(Number(rows[1]?.sequence)).toBeGreaterThan(Number(rows[0]?.sequence));
      // The idempotency index survived the rebuild.
      await database.execute("UPDATE wallet_operations SET idempotency_key = 'k' WHERE id = 'wpy_1'");
      await expect(database.execute("UPDATE wallet_operations SET idempotency_key = 'k' WHERE id = 'wrf_1'")).rejects.toThrow();
      // Version 4 takes top-ups that name their payment intent, and reversals that name their top-up.
      await database.execute(
        `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
           ledger_transfer_id, attempt, next_attempt_ms, created, payment_intent_id)
         VALUES ('tu_1', 'acct_1', ?, 'top_up', NULL, 'wal_1', 900, 'usd', 'succeeded', '4', 1, 0, 0, 'pi_1')`,
        [false],
      );
      await database.execute(
        `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
           ledger_transfer_id, attempt, next_attempt_ms, created, reversed_top_up_id)
         VALUES ('tur_1', 'acct_1', ?, 'top_up_reversal', 'wal_1', NULL, 300, 'usd', 'pending', '5', 1, 0, 0, 'tu_1')`,
        [false],
      );
      const upgraded = await database.query<{ id: string; refunded_payment_id: string | null; payment_intent_id: string | null; reversed_top_up_id: string | null }>(
        'SELECT id, refunded_payment_id, payment_intent_id, reversed_top_up_id FROM wallet_operations ORDER BY sequence',
      );
      expect(upgraded.map((row) => [row.id, row.refunded_payment_id, row.payment_intent_id, row.reversed_top_up_id])).toEqual([
        ['wpy_1', null, null, null],
        ['wrf_1', 'wpy_1', null, null],
        ['tu_1', null, 'pi_1', null],
        ['tur_1', null, null, 'tu_1'],
      ]);
      // The idempotency index survived the second rebuild too.
      await expect(database.execute("UPDATE wallet_operations SET idempotency_key = 'k' WHERE id = 'tu_1'")).rejects.toThrow();

      // Version 5 takes restorations that name the reversal they undo, and keeps every row before it.
      const restoration = `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
           ledger_transfer_id, attempt, next_attempt_ms, created, restored_reversal_id)
         VALUES ('tus_1', 'acct_1', ?, 'top_up_restoration', NULL, 'wal_1', 300, 'usd', 'pending', '6', 1, 0, 0, 'tur_1')`;
      await expect(database.execute(restoration, [false])).rejects.toThrow();
      expect(await database.migrate(wallet_migrations.slice(0, 5))).toEqual([5]);
      await database.execute(restoration, [false]);
      const restored = await database.query<{ id: string; reversed_top_up_id: string | null; restored_reversal_id: string | null }>(
        'SELECT id, reversed_top_up_id, restored_reversal_id FROM wallet_operations ORDER BY sequence',
      );
      expect(restored.map((row) => [row.id, row.reversed_top_up_id, row.restored_reversal_id])).toEqual([
        ['wpy_1', null, null],
        ['wrf_1', null, null],
        ['tu_1', null, null],
        ['tur_1', 'tu_1', null],
        ['tus_1', null, 'tur_1'],
      ]);
      await expect(database.execute("UPDATE wallet_operations SET idempotency_key = 'k' WHERE id = 'tus_1'")).rejects.toThrow();

      // Version 6: rows written before the ledger was the book of record keep the legacy layout
      // (their transfer ids derive from their ids), and a daily limit already set gets version 1,
      // so that wallets' allowances in the ledger are granted at their next movement.
      await database.execute(
        "INSERT INTO wallet_limits (merchant_id, livemode, currency, per_transaction_max, per_day_max, updated_ms) VALUES ('acct_1', ?, 'usd', NULL, 5000, 0), ('acct_1', ?, 'eur', 100, NULL, 0)",
        [false, false],
      );
      expect(await database.migrate(wallet_migrations.slice(0, 6))).toEqual([6]);
      const layouts = await database.query<{ id: string; ledger_layout: number; created_ms: number | null; origin: number }>(
        'SELECT id, ledger_layout, created_ms, origin FROM wallet_operations ORDER BY sequence',
      );
      expect(layouts.map((row) => [row.id, row.ledger_layout, row.created_ms, row.origin])).toEqual([
        ['wpy_1', 1, null, 0],
        ['wrf_1', 1, null, 0],
        ['tu_1', 1, null, 0],
        ['tur_1', 1, null, 0],
        ['tus_1', 1, null, 0],
      ]);
      const versions = await database.query<{ currency: string; day_limit_version: number }>('SELECT currency, day_limit_version FROM wallet_limits ORDER BY currency');
      expect(versions.map((row) => [row.currency, row.day_limit_version])).toEqual([
        ['eur', 0],
        ['usd', 1],
      ]);

      // Version 7: withdrawals stored with their account number in plain text keep their last four
      // digits; the start-up step seals the numbers, in batches, and nothing can store one again.
      const plain_numbers = ['000123456789', '000987654321'];
      for (const [index, number] of plain_numbers.entries()) {
        await database.execute(
          `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
             ledger_transfer_id, attempt, next_attempt_ms, created, bank_account_holder_name, bank_routing_number, bank_account_number, bank_country)
           VALUES (?, 'acct_1', ?, 'withdrawal', 'wal_1', NULL, 100, 'usd', 'succeeded', ?, 1, 0, 0, 'Jenny Rosen', '110000000', ?, 'US')`,
          [`wd_${index}`, false, String(10 + index), number],
        );
      }
      expect(await database.migrate(wallet_migrations.slice(0, 7))).toEqual([7]);
      const keyring = new Keyring(generateKeyEncryptionKey());
      const keys = new BankAccountKeys({ database, keyring });
      await expect(keys.checkKeys()).rejects.toThrow(/sealed account number/);
      expect(await keys.sealLegacy({ batch_size: 1 })).toBe(2);
      expect(await keys.sealLegacy()).toBe(0);
      expect(await keys.checkKeys()).toEqual([keyring.current.id]);
      // A process without that key stops at start rather than at a resend, naming the key, never a number.
      await expect(new BankAccountKeys({ database, keyring: new Keyring(generateKeyEncryptionKey()) }).checkKeys()).rejects.toThrow(
        new RegExp(`under key-encryption key ${keyring.current.id}, which this process was not given`),
      );
      const sealed = await database.query<{ id: string; bank_account_number: string | null; bank_account_last4: string; bank_kek_id: string; bank_data_key: Buffer; bank_account_number_sealed: Buffer }>(
        "SELECT id, bank_account_number, bank_account_last4, bank_kek_id, bank_data_key, bank_account_number_sealed FROM wallet_operations WHERE type = 'withdrawal' ORDER BY sequence",
      );
      const sealer = new BankAccountSealer(keyring);
      expect(
        sealed.map((row) => {
          const stored: StoredBankAccount = {
            account_holder_name: 'Jenny Rosen',
            routing_number: '110000000',
            country: 'US',
            last4: row.bank_account_last4,
            account_number: { kek_id: row.bank_kek_id, data_key: row.bank_data_key, sealed: row.bank_account_number_sealed },
          };
          return [row.id, row.bank_account_number, row.bank_account_last4, sealer.open({ id: row.id, merchant_id: 'acct_1', livemode: false }, stored).account_number];
        }),
      ).toEqual([
        ['wd_0', null, '6789', '000123456789'],
        ['wd_1', null, '4321', '000987654321'],
      ]);
      await expect(database.execute("UPDATE wallet_operations SET bank_account_number = '000123456789' WHERE id = 'wd_0'")).rejects.toThrow(/sealed/);

      // Version 8: every unfinished operation becomes a run of its saga, at the step its row says
      // comes next, holding its fence and due time; the lease columns go.
      const withdrawal = (id: string, transfer: string, ledger_result: string | null, settlement_outcome: string | null) =>
        database.execute(
          `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
             ledger_transfer_id, ledger_result, settlement_outcome, attempt, next_attempt_ms, created, created_ms, ledger_layout, origin)
           VALUES (?, 'acct_1', ?, 'withdrawal', 'wal_1', NULL, 700, 'usd', 'pending', ?, ?, ?, 3, 7000, 7, 7000, 2, 2)`,
          [id, false, transfer, ledger_result, settlement_outcome],
        );
      await withdrawal('wd_sent', '7', null, null);
      await withdrawal('wd_held', '8', 'ok', null);
      await withdrawal('wd_decided', '9', 'exists', 'failed');
      expect((await database.migrate(wallet_migrations)).at(-1)).toBe(9);
      const runs = await database.query<{ id: string; saga: string; step: string; status: string; fence: number; tries: number; due_ms: number | string | null }>(
        'SELECT id, saga, step, status, fence, tries, due_ms FROM saga_runs ORDER BY id',
      );
      expect(runs.map((run) => [run.id, run.saga, run.step, run.status, run.fence, run.tries, Number(run.due_ms)])).toEqual([
        ['tur_1', 'wallet_movement', 'move', 'running', 1, 0, 0],
        ['tus_1', 'wallet_movement', 'move', 'running', 1, 0, 0],
        ['wd_decided', 'wallet_withdrawal', 'settle', 'running', 3, 0, 7000],
        ['wd_held', 'wallet_withdrawal', 'await_bank', 'waiting', 3, 1, 7000],
        ['wd_sent', 'wallet_withdrawal', 'hold', 'running', 3, 0, 7000],
        ['wrf_1', 'wallet_movement', 'move', 'running', 1, 0, 0],
      ]);
      const migrated = await database.query<{ run_id: string }>("SELECT run_id FROM saga_transitions WHERE reason = 'migrated' ORDER BY run_id");
      expect(migrated.map((row) => row.run_id)).toEqual(['tur_1', 'tus_1', 'wd_decided', 'wd_held', 'wd_sent', 'wrf_1']);
      await expect(database.query('SELECT attempt FROM wallet_operations')).rejects.toThrow();
      await expect(database.query('SELECT next_attempt_ms FROM wallet_operations')).rejects.toThrow();
    } finally {
      await database.close();
      await cleanup();
    }
  });
}

describe('wallet migrations on SQLite', () => {
  upgradeSuite(async () => {
    const directory = await temporaryDirectory();
    const file = join(directory.path, 'wallet.sqlite');
    return { database: createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file }), cleanup: () => directory.remove() };
  });
});

describeWithPostgres('wallet migrations on PostgreSQL', (url) => {
  upgradeSuite(async () => {
    const temporary = await withTemporarySchema(url);
    const database = createPostgresDatabase(createPostgresPool({ url, schema: temporary.schema, max: 2 }), { dialect: 'postgres', url, schema: temporary.schema });
    return { database, cleanup: () => temporary.drop() };
  });
});

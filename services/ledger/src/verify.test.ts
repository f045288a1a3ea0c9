import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { idToBytes } from './codec';
import { openLedgerStore } from './open';
import { LedgerService } from './service';
import { sqliteLedgerFileSnapshots } from './store-sqlite';
import { TransferFlags, emptyAccountEvent, emptyTransferEvent } from './types';
import { verifyLedger } from './verify';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A small ledger over three batches: accounts, transfers, then a post and a void. */
async function buildLedger(): Promise<string> {
  const folder = mkdtempSync(join(tmpdir(), 'ledger-verify-'));
  folders.push(folder);
  const file = join(folder, 'ledger.sqlite');
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file }, { migrate: true }), { batch_wait_ms: 0 });
  await ledger.createAccounts([1n, 2n, 3n].map((id) => emptyAccountEvent({ id, ledger: 1, code: 1 })));
  await ledger.createTransfers([
    emptyTransferEvent({ id: 10n, debit_account_id: 1n, credit_account_id: 2n, amount: 500n, ledger: 1, code: 1 }),
    emptyTransferEvent({ id: 11n, debit_account_id: 2n, credit_account_id: 3n, amount: 70n, ledger: 1, code: 1, flags: TransferFlags.pending }),
    emptyTransferEvent({ id: 12n, debit_account_id: 2n, credit_account_id: 3n, amount: 30n, ledger: 1, code: 1, flags: TransferFlags.pending }),
  ]);
  await ledger.createTransfers([
    emptyTransferEvent({ id: 13n, pending_id: 11n, amount: 60n, flags: TransferFlags.post_pending_transfer }),
    emptyTransferEvent({ id: 14n, pending_id: 12n, flags: TransferFlags.void_pending_transfer }),
  ]);
  await ledger.close();
  return file;
}

async function verifyFile(file: string) {
  const store = await openLedgerStore({ kind: 'sqlite', file }, { migrate: false });
  try {
    return await verifyLedger(store);
  } finally {
    await store.close();
  }
}

function tamper(file: string, sql: string, ...params: unknown[]): void {
  const db = new Database(file);
  expect(db.prepare(sql).run(...params).changes).toBe(1);
  db.close();
}

describe('ledger verify', () => {
  it('accepts an untouched ledger', async () => {
    const file = await buildLedger();
    const report = await verifyFile(file);
    expect(report).toEqual({ ok: true, batches: 3, accounts: 3, transfers: 5, head_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The head is the third batch's own hash, and the read-only file verifier agrees with the store's.
    const db = new Database(file, { readonly: true });
    const head = db.prepare<[], { hash: Buffer }>('SELECT hash FROM ledger_batches WHERE id = 3').get();
    db.close();
    expect(report.head_hash).toBe(head?.hash.toString('hex'));
    expect(await verifyLedger(sqliteLedgerFileSnapshots(file))).toEqual(report);
  });

  it('names the batch whose transfer was altered after commit', async () => {
    const file = await buildLedger();
    tamper(file, 'UPDATE ledger_transfers SET amount = 501 WHERE id = ?', idToBytes(10n));
    const report = await verifyFile(file);
    expect(report.ok).toBe(false);
    expect(report.bad_batch).toBe(2n);
    expect(report.problem).toContain('do not match its hash');
  });

  it('names the batch whose transfer was deleted', async () => {
    const file = await buildLedger();
    tamper(file, 'DELETE FROM ledger_transfers WHERE id = ?', idToBytes(14n));
    const report = await verifyFile(file);
    expect(report.bad_batch).toBe(3n);
  });

  it('finds a broken link when a batch is rewritten with a fresh hash', async () => {
    const file = await buildLedger();
    tamper(file, 'UPDATE ledger_batches SET previous_hash = zeroblob(32) WHERE id = 2');
    expect((await verifyFile(file)).bad_batch).toBe(2n);
  });

  it('names the account whose stored balance disagrees with its transfers', async () => {
    const file = await buildLedger();
    tamper(file, 'UPDATE ledger_balances SET credits_posted = credits_posted + 1 WHERE account_key = (SELECT timestamp FROM ledger_accounts WHERE id = ?)', idToBytes(3n));
    const report = await verifyFile(file);
    expect(report.ok).toBe(false);
    expect(report.problem).toBe('account 3: stored credits_posted 61 but its transfers sum to 60');
  });
});

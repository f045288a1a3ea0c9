// The ledger writer when PostgreSQL restarts under it. The advisory lock that fences the writer
// belongs to its session, and a restart ends every session: the writer has lost its fence. It
// must then refuse to write, say so on readiness, and take the lock again by itself as soon as the
// server is back, not on the next write (which would fail first), and writes must go on after.
// Runs on a PostgreSQL cluster of its own: the machine's serves every suite at once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPrivatePostgres, startPrivatePostgres, type PrivatePostgres } from '@paygrid/kernel/testing';
import { openLedgerStore } from './open';
import { LedgerService } from './service';
import { emptyAccountEvent, emptyTransferEvent } from './types';

async function eventually(probe: () => Promise<boolean>, what: string, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

const ready = (ledger: LedgerService) =>
  ledger.checkReady().then(
    () => true,
    () => false,
  );

describeWithPrivatePostgres('the ledger writer when PostgreSQL restarts', () => {
  let cluster: PrivatePostgres;
  let ledger: LedgerService;
  const logged: string[] = [];

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    const store = await openLedgerStore({ kind: 'postgres', url: cluster.url, schema: 'ledger' }, { migrate: true });
    ledger = await LedgerService.open(store, { batch_wait_ms: 0, log: (level, message) => logged.push(`${level}: ${message}`) });
  }, 60_000);
  afterAll(async () => {
    try {
      await ledger?.close();
    } finally {
      await cluster?.remove();
    }
  }, 60_000);

  it('refuses writes and is not ready without its fence, then takes it again on its own', async () => {
    expect((await ledger.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })])).map((row) => row.result)).toEqual(['ok', 'ok']);
    await ledger.checkReady();

    await cluster.stop('immediate');
    await eventually(async () => !(await ready(ledger)), 'readiness to fail while PostgreSQL is down', 10_000);
    const refused = await ledger.createTransfers([emptyTransferEvent({ id: 10n, debit_account_id: 1n, credit_account_id: 2n, amount: 5n, ledger: 1, code: 1 })]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).name).toBe('LedgerUnavailableError');

    await cluster.start();
    // No write comes: the writer must take its fence back by itself, and only then be ready.
    await eventually(() => ready(ledger), 'the ledger to be ready again with no write to wake it', 20_000);
    // The first write after the restart goes through: the fence was taken before readiness said so.
    const after = await ledger.createTransfers([emptyTransferEvent({ id: 11n, debit_account_id: 1n, credit_account_id: 2n, amount: 7n, ledger: 1, code: 1 })]);
    expect(after.map((row) => row.result)).toEqual(['ok']);
    // The refused transfer was never written; a retry with its id writes it once.
    expect((await ledger.createTransfers([emptyTransferEvent({ id: 10n, debit_account_id: 1n, credit_account_id: 2n, amount: 5n, ledger: 1, code: 1 })])).map((row) => row.result)).toEqual(['ok']);
    expect((await ledger.lookupAccounts([2n]))[0]?.credits_posted).toBe(12n);
    expect((await ledger.verify()).ok).toBe(true);
  }, 90_000);

  it('takes its fence back after a clean (fast) shutdown too', async () => {
    await cluster.stop('fast');
    await eventually(async () => !(await ready(ledger)), 'readiness to fail while PostgreSQL is down', 10_000);
    await cluster.start();
    await eventually(() => ready(ledger), 'the ledger to be ready again', 20_000);
    expect((await ledger.createTransfers([emptyTransferEvent({ id: 12n, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, ledger: 1, code: 1 })])).map((row) => row.result)).toEqual(['ok']);
    expect((await ledger.verify()).ok).toBe(true);
  }, 90_000);
});

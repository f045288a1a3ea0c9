// PostgreSQL fencing: one writer per ledger schema. A second writer waits while the first lives,
// and takes over, with the first one's committed state, the moment the first dies.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWithPostgres, withTemporarySchema } from '@paygrid/kernel/testing';
import { openLedgerStore } from './open';
import { LedgerService } from './service';
import { emptyAccountEvent, emptyTransferEvent } from './types';

const root = resolve(import.meta.dirname, '../../..');

describeWithPostgres('ledger writer fencing on PostgreSQL', (database_url) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('makes a second writer wait, then take over when the first is killed', async () => {
    const temporary = await withTemporarySchema(database_url);
    cleanups.push(() => temporary.drop());
    const location = { kind: 'postgres' as const, url: database_url, schema: temporary.schema };
    // The first writer lives in a child process so that it can die the hard way.
    const script = `
      import { LedgerService, openLedgerStore, emptyAccountEvent } from '@paygrid/ledger';
      const ledger = await LedgerService.open(await openLedgerStore(${JSON.stringify(location)}, { migrate: true }), { batch_wait_ms: 0 });
      const results = await ledger.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })]);
      process.stdout.write('ready ' + results.map((r) => r.result).join(',') + '\\n');
      setInterval(() => undefined, 1000);
    `;
    const first = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const first_ready = await new Promise<string>((ready, reject) => {
      first.stdout.on('data', (chunk: Buffer) => ready(chunk.toString()));
      first.once('exit', (code) => reject(new Error(`first writer exited with ${code}`)));
    });
    expect(first_ready.trim()).toBe('ready ok,ok');

    const waiting: string[] = [];
    let second: LedgerService | undefined;
    const opening = openLedgerStore(location, { migrate: false }).then((store) =>
      LedgerService.open(store, { batch_wait_ms: 0, log: (_level, message) => waiting.push(message) }),
    );
    void opening.then((service) => (second = service));
    await new Promise((wait) => setTimeout(wait, 1500));
    expect(second).toBeUndefined();
    expect(waiting.join('\n')).toMatch(/another ledger writer .* holds schema/);

    first.kill('SIGKILL');
    const service = await opening;
    try {
      const results = await service.createTransfers([emptyTransferEvent({ id: 9n, debit_account_id: 1n, credit_account_id: 2n, amount: 5n, ledger: 1, code: 1 })]);
      expect(results.map((row) => row.result)).toEqual(['ok']);
      const accounts = await service.lookupAccounts([2n]);
      expect(accounts[0]?.credits_posted).toBe(5n);
      expect((await service.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 })]))[0]?.result).toBe('exists');
      expect((await service.verify()).ok).toBe(true);
    } finally {
      await service.close();
    }
  });
});

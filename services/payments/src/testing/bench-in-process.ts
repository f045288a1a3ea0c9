// Card payments straight through PaymentsService, with no HTTP, gateway or vault in the way, to
// measure what payments itself costs:
//
//   cd services/payments && node --import tsx src/testing/bench-in-process.ts [seconds] [concurrency]
//
// It opens SQLite files in a temporary directory (the ledger, payments and an idle wallet), takes
// the card simulator in process with a fixed card (no vault), and runs `concurrency` loops of
// create + confirm for `seconds`. It prints one JSON line: payments a second, and the process's
// CPU time per payment (the ledger's commit thread included). The machine is shared, so compare
// builds in alternating runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CardAcquirerSimulator, CardConnector, test_card_numbers, type AcquirerCard, type CardVault } from '@paygrid/connectors';
import { createSqliteDatabase, openSqlite, type Tenant } from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { LedgerService, openLedgerStore } from '@paygrid/ledger';
import { SimulatedBank, WalletService, wallet_migrations } from '@paygrid/wallet';
import { payments_migrations } from '../migrations';
import { PaymentsService } from '../service';
import type { CardTokenClaim, TokenDirectory } from '../types';

const seconds_default = 15;
const concurrency_default = 32;
const ms_per_second = 1_000;
const card_expiry_year = new Date().getUTCFullYear() + 5;

/** One card for every payment; the vault's own cost is not what this measures. */
class FixedCard implements CardVault, TokenDirectory {
  detokenize(): Promise<AcquirerCard> {
    return Promise.resolve({ number: test_card_numbers.succeeds, exp_month: 12, exp_year: card_expiry_year, cvc: null });
  }

  eraseCvc(): Promise<void> {
    return Promise.resolve();
  }

  tokenExists(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Every benchmarked payment uses the one card; single use is the vault's own cost and test. */
  claimToken(): Promise<CardTokenClaim> {
    return Promise.resolve('claimed');
  }

  releaseToken(): Promise<void> {
    return Promise.resolve();
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? seconds_default);
  const concurrency = Number(process.argv[3] ?? concurrency_default);
  const directory = mkdtempSync(join(tmpdir(), 'paygrid-payments-bench-'));
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(directory, 'ledger.sqlite') }, { migrate: true }), {});
  const payments_file = join(directory, 'payments.sqlite');
  const database = createSqliteDatabase(openSqlite(payments_file), { dialect: 'sqlite', file: payments_file });
  await database.migrate(payments_migrations);
  const wallet_file = join(directory, 'wallet.sqlite');
  const wallet_database = createSqliteDatabase(openSqlite(wallet_file), { dialect: 'sqlite', file: wallet_file });
  await wallet_database.migrate(wallet_migrations);
  const bank = new SimulatedBank();
  const wallet = new WalletService({
    database: wallet_database,
    ledger,
    customers: { customerExists: () => Promise.resolve(true) },
    bank,
    keyring: new Keyring(generateKeyEncryptionKey()),
    recovery_interval_ms: 3_600_000,
  });
  const card = new FixedCard();
  const payments = new PaymentsService({
    database,
    ledger,
    connectors: { card: new CardConnector({ cards: card, acquirer: new CardAcquirerSimulator() }) },
    wallet,
    tokens: card,
    events: { publish: () => Promise.resolve() },
    recovery_interval_ms: 3_600_000,
    expiry_interval_ms: 3_600_000,
  });
  await payments.start();
  const tenant: Tenant = { merchant_id: 'acct_bench', livemode: false };
  let succeeded = 0;
  let not_succeeded = 0;
  const started_ms = Date.now();
  const deadline_ms = started_ms + seconds * ms_per_second;
  const cpu_before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline_ms) {
        const intent = await payments.createPaymentIntent(tenant, { amount: 1_000n, currency: 'usd' });
        const confirmed = await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: 'tok_bench' } });
        if (confirmed.status === 'succeeded') succeeded += 1;
        else not_succeeded += 1;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu_before);
  const elapsed_seconds = (Date.now() - started_ms) / ms_per_second;
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      concurrency,
      payments_per_second: Math.round(succeeded / elapsed_seconds),
      not_succeeded,
      cpu_us_per_payment: Math.round((cpu.user + cpu.system) / Math.max(1, succeeded)),
    })}\n`,
  );
  await payments.close();
  await wallet.close();
  bank.close();
  await ledger.close();
  await database.close();
  await wallet_database.close();
  rmSync(directory, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);

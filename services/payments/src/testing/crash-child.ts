// A payments process for the crash test (crash.test.ts), run as its own Node process:
//
//   node --import tsx src/testing/crash-child.ts '<json config>'
//
// It opens SQLite files in the directory it is given (the ledger, the payments database and the
// wallet database), talks to the card acquirer over HTTP (the simulator runs in the test process,
// so its state outlives this one), and either
//   - `run`: takes a payment along one flow, with `crash_at` set, and is SIGKILLed at that step;
//   - `recover`: starts the service (its recovery pass), lets time pass so that every lease runs
//     out, and prints what the books and the payment look like as one JSON line.
import { join } from 'node:path';
import { CardConnector, test_card_numbers, type AcquirerCard, type CardVault } from '@paygrid/connectors';
import { ManualClock, createSqliteDatabase, openSqlite, type Tenant } from '@paygrid/kernel';
import { loadKeyring } from '@paygrid/kernel/envelope';
import { AccountCode, LedgerService, TransferCode, amount_max, derivedId, emptyAccountEvent, emptyTransferEvent, ledgerFor, openLedgerStore, type Account, type LedgerClient } from '@paygrid/ledger';
import { SimulatedBank, WalletService, wallet_migrations } from '@paygrid/wallet';
import { LedgerChart, feesAccountId, merchantAccountId, receivableAccountId } from '../chart';
import { payments_migrations } from '../migrations';
import { PaymentsService, attempt_lease_ms_default } from '../service';
import type { CardTokenClaim, TokenDirectory } from '../types';
import { crash_amount, crash_capture_amount, crash_card_token, crash_customer, crash_refund_amount, crash_tenant, type CrashChildConfig } from './crash-shared';

/** Recovery passes the recovering process runs, each after every lease has run out. */
const recovery_passes = 6;

class FixedVault implements CardVault, TokenDirectory {
  readonly #number: string;

  constructor(number: string) {
    this.#number = number;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async detokenize(): Promise<AcquirerCard> {
    return { number: this.#number, exp_month: 12, exp_year: new Date().getUTCFullYear() + 5, cvc: null };
  }

  async eraseCvc(): Promise<void> {
    // The fixed card keeps no CVC.
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async tokenExists(_tenant: Tenant, token_id: string): Promise<boolean> {
    return token_id === crash_card_token;
  }

  /** The crash suites pay many intents with the one fixed card; single use is the vault's own test. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async claimToken(_tenant: Tenant, token_id: string): Promise<CardTokenClaim> {
    return token_id === crash_card_token ? 'claimed' : 'missing';
  }

  async releaseToken(): Promise<void> {
    // Nothing is held.
  }
}

function balances(account: Account | undefined): Record<string, string> {
  return {
    debits_pending: String(account?.debits_pending ?? 0n),
    debits_posted: String(account?.debits_posted ?? 0n),
    credits_pending: String(account?.credits_pending ?? 0n),
    credits_posted: String(account?.credits_posted ?? 0n),
  };
}

/** Credits the crash tenant's USD balance with `amount` from an account of the test's own. */
async function fillMerchantBalance(ledger: LedgerService, amount: bigint): Promise<void> {
  const usd = ledgerFor('USD', crash_tenant.livemode);
  const merchant = merchantAccountId({ merchant_id: crash_tenant.merchant_id, currency: 'USD', livemode: crash_tenant.livemode, chart: LedgerChart.per_merchant });
  const filler = derivedId('crash:filler');
  await ledger.createAccounts([
    emptyAccountEvent({ id: merchant, ledger: usd, code: AccountCode.merchant_balance, flags: 0 }),
    emptyAccountEvent({ id: filler, ledger: usd, code: AccountCode.bank_deposits, flags: 0 }),
  ]);
  await ledger.createTransfers([emptyTransferEvent({ id: derivedId('crash:fill'), debit_account_id: filler, credit_account_id: merchant, amount, ledger: usd, code: TransferCode.wallet_top_up })]);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as CrashChildConfig;
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(config.directory, 'ledger.sqlite') }, { migrate: true }), { batch_wait_ms: 0 });
  const payments_file = join(config.directory, 'payments.sqlite');
  const database = createSqliteDatabase(openSqlite(payments_file), { dialect: 'sqlite', file: payments_file });
  await database.migrate(payments_migrations);
  const wallet_file = join(config.directory, 'wallet.sqlite');
  const wallet_database = createSqliteDatabase(openSqlite(wallet_file), { dialect: 'sqlite', file: wallet_file });
  await wallet_database.migrate(wallet_migrations);
  const bank = new SimulatedBank();
  // The key is kept in the folder, so that the recovering process opens what the crashed one sealed.
  const { keyring } = await loadKeyring({ env: {}, data_dir: config.directory, allow_generate: true });
  const wallet = new WalletService({
    database: wallet_database,
    ledger,
    customers: { customerExists: (_tenant, customer) => Promise.resolve(customer === crash_customer) },
    bank,
    keyring,
  });
  const vault = new FixedVault(config.flow === 'top_up_refund_fails' ? test_card_numbers.refund_fails : test_card_numbers.succeeds);
  // The recovering process lives after every lease of the crashed one has run out.
  const clock = new ManualClock(Date.now() + (config.phase === 'recover' ? attempt_lease_ms_default + 1_000 : 0));
  // The books_full flow's first process cannot read balances, so its confirmation passes the check
  // before the provider as one racing past it would, and meets the ledger's refusal after the call.
  const blind: LedgerClient = new Proxy(ledger, {
    get(target, key, receiver) {
      if (key === 'lookupAccounts') return () => Promise.reject(new Error('balances unreadable in this crash flow'));
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const payments = new PaymentsService({
    database,
    ledger: config.flow === 'books_full' && config.phase === 'run' ? blind : ledger,
    connectors: { card: new CardConnector({ cards: vault, acquirer: { url: config.acquirer_url } }) },
    wallet,
    tokens: vault,
    events: { publish: () => Promise.resolve() },
    clock,
    connector_timeout_ms: 2_000,
    recovery_interval_ms: 3_600_000,
    expiry_interval_ms: 3_600_000,
    relay_interval_ms: 3_600_000,
    ...(config.crash_at === undefined ? {} : { crash_at: config.crash_at }),
  });

  if (config.phase === 'run') {
    const capture_method = config.flow === 'manual' || config.flow === 'capture' || config.flow === 'cancel' ? 'manual' : 'automatic';
    const top_up = config.flow === 'top_up' || config.flow === 'top_up_refund' || config.flow === 'top_up_refund_fails';
    const top_up_wallet = top_up ? (await wallet.createWallet(crash_tenant, { customer: crash_customer, currency: 'usd' })).id : undefined;
    if (config.flow === 'books_full') await fillMerchantBalance(ledger, amount_max - crash_amount + 1n);
    const intent = await payments.createPaymentIntent(crash_tenant, { amount: crash_amount, currency: 'usd', capture_method, ...(top_up_wallet === undefined ? {} : { top_up_wallet }) });
    await payments.confirmPaymentIntent(crash_tenant, intent.id, { payment_method: { type: 'card', token: crash_card_token } });
    if (config.flow === 'capture') await payments.capturePaymentIntent(crash_tenant, intent.id, { amount: crash_capture_amount });
    if (config.flow === 'cancel') await payments.cancelPaymentIntent(crash_tenant, intent.id);
    if (config.flow === 'refund' || config.flow === 'top_up_refund' || config.flow === 'top_up_refund_fails') await payments.createRefund(crash_tenant, { payment_intent: intent.id, amount: crash_refund_amount });
    // Reaching here means the step to crash at was never reached: the test reports it.
    process.stdout.write(`${JSON.stringify({ finished: true })}\n`);
  } else {
    // The wallet finishes its own operations first, as a restarted platform would.
    await wallet.start();
    await payments.start();
    for (let pass = 0; pass < recovery_passes; pass += 1) {
      clock.advance(attempt_lease_ms_default + 1_000);
      await payments.recoverPending();
    }
    const [intent] = (await payments.listPaymentIntents(crash_tenant, {})).data;
    const attempts = intent === undefined ? [] : (await payments.listAttempts(crash_tenant, intent.id, { limit: 100 })).data;
    const refunds = (await payments.listRefunds(crash_tenant, {})).data;
    const books = { merchant_id: crash_tenant.merchant_id, currency: 'USD' as const, livemode: false, chart: LedgerChart.per_merchant };
    const [merchant, receivable, fees] = await Promise.all(
      [merchantAccountId(books), receivableAccountId(books), feesAccountId(books)].map(async (id) => (await ledger.lookupAccounts([id]))[0]),
    );
    const [top_up_wallet] = (await wallet.listWallets(crash_tenant, {})).data;
    const verify = await ledger.verify();
    const summary = {
      intent:
        intent === undefined
          ? null
          : { id: intent.id, status: intent.status, amount_received: String(intent.amount_received), amount_refunded: String(intent.amount_refunded), top_up: intent.top_up },
      wallet: top_up_wallet === undefined ? null : { available: String(top_up_wallet.balance.available), pending: String(top_up_wallet.balance.pending) },
      attempts: attempts.map((attempt) => ({ id: attempt.id, operation: attempt.operation, status: attempt.status, provider_reference: attempt.provider_reference })),
      refunds: refunds.map((refund) => ({ status: refund.status, amount: String(refund.amount) })),
      merchant: balances(merchant),
      receivable: balances(receivable),
      fees: balances(fees),
      ledger_problem: verify.problem ?? null,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    await payments.close();
  }
  await wallet.close();
  bank.close();
  await ledger.close();
  await database.close();
  await wallet_database.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);

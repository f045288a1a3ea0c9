// Test harness: a real ledger and a real wallet database on the same kind of store (SQLite files
// or PostgreSQL temporary schemas), a SimulatedBank, and an in-memory customer directory standing
// in for the identity service.
import { join } from 'node:path';
import {
  ManualClock,
  createPostgresDatabase,
  createPostgresPool,
  createSqliteDatabase,
  openSqlite,
  randomId,
  type Clock,
  type ServiceDatabase,
  type Tenant,
} from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { LedgerService, openLedgerStore, type LedgerClient } from '@paygrid/ledger';
import { SimulatedBank } from '../bank';
import { wallet_migrations } from '../migrations';
import { WalletService, type WalletServiceOptions } from '../service';
import type { BankPort, CustomerDirectory, Wallet } from '../types';

export class TestCustomers implements CustomerDirectory {
  readonly #known = new Set<string>();

  add(tenant: Tenant, customer_id: string): void {
    this.#known.add(`${tenant.merchant_id}:${String(tenant.livemode)}:${customer_id}`);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async customerExists(tenant: Tenant, customer_id: string): Promise<boolean> {
    return this.#known.has(`${tenant.merchant_id}:${String(tenant.livemode)}:${customer_id}`);
  }
}

export interface Harness {
  readonly dialect: 'sqlite' | 'postgres';
  readonly database: ServiceDatabase;
  readonly ledger: LedgerService;
  readonly bank: SimulatedBank;
  readonly customers: TestCustomers;
  /** The key-encryption keys every service of the harness seals account numbers with, as a restarted process would be given. */
  readonly keyring: Keyring;
  /** The service most tests use, started. */
  readonly wallets: WalletService;
  /** Another service on the same database and ledger (a restart, or a second instance); closed with the harness. */
  service(options?: Partial<Pick<WalletServiceOptions, 'clock' | 'ledger' | 'bank' | 'attempt_lease_ms' | 'recovery_interval_ms' | 'events'>>): WalletService;
  /**
   * A ledger of its own, on the same kind of store, whose time is `clock`'s: for tests that move
   * time across a UTC midnight, which the ledger sees when it expires a day's usage. Closed with
   * the harness.
   */
  ledgerOnClock(clock: Clock): Promise<LedgerService>;
  close(): Promise<void>;
}

async function assemble(
  dialect: 'sqlite' | 'postgres',
  database: ServiceDatabase,
  ledger: LedgerService,
  openLedger: (clock: Clock) => Promise<LedgerService>,
  cleanup: () => Promise<void>,
): Promise<Harness> {
  await database.migrate(wallet_migrations);
  const bank = new SimulatedBank();
  const customers = new TestCustomers();
  const keyring = new Keyring(generateKeyEncryptionKey());
  const services: WalletService[] = [];
  const service = (options: Partial<WalletServiceOptions> = {}) => {
    const created = new WalletService({ database, ledger, customers, bank, keyring, ...options });
    services.push(created);
    return created;
  };
  const wallets = service({ recovery_interval_ms: 60_000 });
  await wallets.start();
  const ledgers: LedgerService[] = [];
  return {
    dialect,
    database,
    ledger,
    bank,
    customers,
    keyring,
    wallets,
    service,
    ledgerOnClock: async (clock) => {
      const opened = await openLedger(clock);
      ledgers.push(opened);
      return opened;
    },
    close: async () => {
      for (const each of services) await each.close();
      bank.close();
      for (const each of ledgers) await each.close();
      await ledger.close();
      await database.close();
      await cleanup();
    },
  };
}

export async function openSqliteHarness(): Promise<Harness> {
  const directory = await temporaryDirectory();
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(directory.path, 'ledger.sqlite') }, { migrate: true }), {
    batch_wait_ms: 0,
  });
  const file = join(directory.path, 'wallet.sqlite');
  const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
  const openLedger = async (clock: Clock) =>
    LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(directory.path, `${randomId('ledger')}.sqlite`) }, { migrate: true }), {
      batch_wait_ms: 0,
      clock: clockInNanoseconds(clock),
      expiry_wake_up: false,
    });
  return assemble('sqlite', database, ledger, openLedger, () => directory.remove());
}

export async function openPostgresHarness(url: string): Promise<Harness> {
  const ledger_schema = await withTemporarySchema(url);
  const wallet_schema = await withTemporarySchema(url);
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'postgres', url, schema: ledger_schema.schema }, { migrate: true }), {
    batch_wait_ms: 0,
  });
  const database = createPostgresDatabase(createPostgresPool({ url, schema: wallet_schema.schema, max: 8 }), {
    dialect: 'postgres',
    url,
    schema: wallet_schema.schema,
  });
  const clocked_schemas: { drop(): Promise<void> }[] = [];
  const openLedger = async (clock: Clock) => {
    const schema = await withTemporarySchema(url);
    clocked_schemas.push(schema);
    return LedgerService.open(await openLedgerStore({ kind: 'postgres', url, schema: schema.schema }, { migrate: true }), {
      batch_wait_ms: 0,
      clock: clockInNanoseconds(clock),
      expiry_wake_up: false,
    });
  };
  return assemble('postgres', database, ledger, openLedger, async () => {
    await ledger_schema.drop();
    await wallet_schema.drop();
    for (const schema of clocked_schemas) await schema.drop();
  });
}

function clockInNanoseconds(clock: Clock): { nowNs(): bigint } {
  return { nowNs: () => BigInt(clock.now()) * 1_000_000n };
}

/** A fresh merchant in test mode, so that tests sharing a harness never see each other. */
export function newTenant(livemode = false): Tenant {
  return { merchant_id: randomId('acct'), livemode };
}

/** A wallet for a new customer of the tenant. */
export async function newWallet(harness: Harness, wallets: WalletService, tenant: Tenant, currency = 'usd'): Promise<Wallet> {
  const customer = randomId('cus');
  harness.customers.add(tenant, customer);
  return wallets.createWallet(tenant, { customer, currency });
}

/** Polls until `check` returns true, for work the bank and the service finish in the background. */
export async function eventually(check: () => Promise<boolean>, timeout_ms = 5_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A ledger that is down: every write is refused as if the writer could not commit. */
export function unavailableLedger(ledger: LedgerClient): LedgerClient {
  return {
    createAccounts: () => Promise.reject(new Error('ledger down (test)')),
    createTransfers: () => Promise.reject(new Error('ledger down (test)')),
    lookupAccounts: (ids) => ledger.lookupAccounts(ids),
    lookupTransfers: (ids) => ledger.lookupTransfers(ids),
    getAccountTransfers: (filter) => ledger.getAccountTransfers(filter),
    getAccountBalances: (filter) => ledger.getAccountBalances(filter),
    queryTransfers: (filter) => ledger.queryTransfers(filter),
  };
}

/** A ledger whose answers are lost: the transfers go through, but the caller sees an error (a crash between steps 2 and 3). */
export function answerLosingLedger(ledger: LedgerClient): LedgerClient {
  return {
    createAccounts: (events) => ledger.createAccounts(events),
    createTransfers: async (events) => {
      await ledger.createTransfers(events);
      throw new Error('connection lost after the ledger committed (test)');
    },
    lookupAccounts: (ids) => ledger.lookupAccounts(ids),
    lookupTransfers: (ids) => ledger.lookupTransfers(ids),
    getAccountTransfers: (filter) => ledger.getAccountTransfers(filter),
    getAccountBalances: (filter) => ledger.getAccountBalances(filter),
    queryTransfers: (filter) => ledger.queryTransfers(filter),
  };
}

/** A bank that never receives anything: submissions fail, and it never reports. */
export const unreachableBank: BankPort = {
  live_support: { name: 'an unreachable test bank', payouts: false, incoming_transfers: false },
  submit: () => Promise.reject(new Error('bank unreachable (test)')),
  status: () => Promise.reject(new Error('bank unreachable (test)')),
  onSettled: () => undefined,
};

export function manualClock(): ManualClock {
  return new ManualClock(Date.UTC(2025, 5, 1, 12));
}

export type { Clock };

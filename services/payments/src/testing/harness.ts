// Test harness: a real ledger, a real wallet service and a real payments database on the same kind
// of store (SQLite files or PostgreSQL temporary schemas), the connectors' own sandboxes (the card
// acquirer simulator, the Alipay and WeChat Pay sandboxes), an in-memory card vault standing in
// for the vault service, and a recording event publisher.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  AlipayConnector,
  AlipaySandbox,
  CardAcquirerSimulator,
  CardConnector,
  WeChatPayConnector,
  WeChatPaySandbox,
  type AcquirerCard,
  type CardVault,
  type Connector,
  type PaymentMethodType,
} from '@paygrid/connectors';
import {
  ManualClock,
  createPostgresDatabase,
  createPostgresPool,
  createSqliteDatabase,
  openSqlite,
  randomId,
  type ServiceDatabase,
  type Tenant,
} from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { LedgerService, openLedgerStore, type Account } from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';
import { SimulatedBank, WalletService, wallet_migrations, type CustomerDirectory, type Wallet } from '@paygrid/wallet';
import { LedgerChart, feesAccountId, merchantAccountId, receivableAccountId } from '../chart';
import { payments_migrations } from '../migrations';
import { PaymentsService, type PaymentsServiceOptions } from '../service';
import type { CardTokenClaim, EventPublisher, NotificationMethod, PaymentEvent, TokenDirectory } from '../types';

/** A card expiring well after any test runs. */
const exp_year = new Date().getUTCFullYear() + 5;

/** The vault, as the card connector and the payments service see it: tokens of one tenant each. */
export class TestVault implements CardVault, TokenDirectory {
  readonly #cards = new Map<string, { readonly tenant: string; card: AcquirerCard; claimant?: string | undefined }>();

  /** Stores a card number and returns its token. */
  add(tenant: Tenant, number: string): string {
    const token = randomId('tok');
    this.#cards.set(token, { tenant: keyOf(tenant), card: { number, exp_month: 12, exp_year, cvc: '123' } });
    return token;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async tokenExists(tenant: Tenant, token_id: string): Promise<boolean> {
    return this.#cards.get(token_id)?.tenant === keyOf(tenant);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async claimToken(tenant: Tenant, token_id: string, claimant: string): Promise<CardTokenClaim> {
    const entry = this.#cards.get(token_id);
    if (entry?.tenant !== keyOf(tenant)) return 'missing';
    if (entry.claimant === undefined) {
      entry.claimant = claimant;
      return 'claimed';
    }
    return entry.claimant === claimant ? 'held' : 'already_used';
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async releaseToken(token_id: string, claimant: string): Promise<void> {
    const entry = this.#cards.get(token_id);
    if (entry?.claimant === claimant) entry.claimant = undefined;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async detokenize(token_id: string): Promise<AcquirerCard> {
    const entry = this.#cards.get(token_id);
    if (entry === undefined) throw new Error(`no card for ${token_id}`);
    return entry.card;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async eraseCvc(token_id: string): Promise<void> {
    const entry = this.#cards.get(token_id);
    if (entry !== undefined) entry.card = { ...entry.card, cvc: null };
  }
}

export class TestCustomers implements CustomerDirectory {
  readonly #known = new Set<string>();

  add(tenant: Tenant, customer_id: string): void {
    this.#known.add(`${keyOf(tenant)}:${customer_id}`);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async customerExists(tenant: Tenant, customer_id: string): Promise<boolean> {
    return this.#known.has(`${keyOf(tenant)}:${customer_id}`);
  }
}

function keyOf(tenant: Tenant): string {
  return `${tenant.merchant_id}:${String(tenant.livemode)}`;
}

/** Keeps every event published, and can be told to fail, to show the relay retries. */
export class RecordingPublisher implements EventPublisher {
  readonly events: PaymentEvent[] = [];
  failing = false;

  // eslint-disable-next-line @typescript-eslint/require-await
  async publish(_tenant: Tenant, event: PaymentEvent): Promise<void> {
    if (this.failing) throw new Error('the bus is down (test)');
    this.events.push(event);
  }

  /** The object's events as a receiver keeps them: de-duplicated by event id, in the order first seen. */
  of(object_id: string): PaymentEvent[] {
    const seen = new Set<string>();
    return this.events.filter((event) => {
      if (event.data.object.id !== object_id || seen.has(event.id)) return false;
      seen.add(event.id);
      return true;
    });
  }
}

/** A merchant's notification endpoint: hands what arrives to the payments service, answers as the gateway would. */
export interface NotificationEndpoint {
  url(method: NotificationMethod): string;
  use(payments: PaymentsService): void;
  close(): Promise<void>;
}

export async function startNotificationEndpoint(): Promise<NotificationEndpoint> {
  let payments: PaymentsService | undefined;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const method = (request.url ?? '').split('/').at(-1) as NotificationMethod;
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      const body = Buffer.concat(chunks).toString('utf8');
      if (payments === undefined) {
        response.writeHead(503).end();
        return;
      }
      payments.handleNotification(method, headers, body).then(
        (result) => {
          if (!result.ok) response.writeHead(400).end('refused');
          else response.writeHead(result.acknowledgement.status, { 'content-type': result.acknowledgement.content_type }).end(result.acknowledgement.body);
        },
        () => response.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the endpoint has no port');
  return {
    url: (method) => `http://127.0.0.1:${address.port}/notify/${method}`,
    use: (service) => {
      payments = service;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function pemPair(): { private_key: string; public_key: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export interface Harness {
  readonly dialect: 'sqlite' | 'postgres';
  readonly database: ServiceDatabase;
  readonly ledger: LedgerService;
  readonly wallets: WalletService;
  readonly customers: TestCustomers;
  readonly vault: TestVault;
  readonly acquirer: CardAcquirerSimulator;
  readonly alipay: AlipaySandbox;
  readonly wechat: WeChatPaySandbox;
  readonly connectors: Partial<Record<PaymentMethodType, Connector>>;
  readonly publisher: RecordingPublisher;
  readonly clock: ManualClock;
  /** The service most tests use: started, with timers too slow to interfere. */
  readonly payments: PaymentsService;
  /** Another service on the same database, ledger and providers (a restart); closed with the harness. */
  service(options?: Partial<PaymentsServiceOptions>): PaymentsService;
  /** A card token of the tenant for one of the simulator's test card numbers. */
  card(tenant: Tenant, number: string): string;
  /** A wallet of a new customer of the tenant, topped up with `amount`. */
  fundedWallet(tenant: Tenant, amount: bigint, currency?: string): Promise<Wallet>;
  account(id: bigint): Promise<Account | undefined>;
  /**
   * The merchant's balances for a tenant and currency, and its receivable and fees (the merchant's
   * own since decision 67), given as the change since `since` (taken with books() at the start of a
   * test) when it is given.
   */
  books(tenant: Tenant, currency?: CurrencyCode, since?: Books): Promise<Books>;
  close(): Promise<void>;
}

export interface Books {
  readonly merchant: Balances;
  readonly receivable: Balances;
  readonly fees: Balances;
}

export interface Balances {
  readonly debits_pending: bigint;
  readonly debits_posted: bigint;
  readonly credits_pending: bigint;
  readonly credits_posted: bigint;
}

const zero: Balances = { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n };

function balancesOf(account: Account | undefined): Balances {
  if (account === undefined) return zero;
  return { debits_pending: account.debits_pending, debits_posted: account.debits_posted, credits_pending: account.credits_pending, credits_posted: account.credits_posted };
}

function difference(now: Balances, before: Balances): Balances {
  return {
    debits_pending: now.debits_pending - before.debits_pending,
    debits_posted: now.debits_posted - before.debits_posted,
    credits_pending: now.credits_pending - before.credits_pending,
    credits_posted: now.credits_posted - before.credits_posted,
  };
}

/** Timers far slower than any test, so that tests drive recovery, expiry and the relay themselves. */
export const quiet_timers = { recovery_interval_ms: 3_600_000, expiry_interval_ms: 3_600_000, relay_interval_ms: 3_600_000 } as const;

export interface HarnessOptions {
  /** Runs on the payments database before it is migrated: to leave rows an older version wrote. */
  readonly before_migrations?: (database: ServiceDatabase) => Promise<void>;
}

async function assemble(
  dialect: 'sqlite' | 'postgres',
  database: ServiceDatabase,
  wallet_database: ServiceDatabase,
  ledger: LedgerService,
  cleanup: () => Promise<void>,
  options: HarnessOptions,
): Promise<Harness> {
  await options.before_migrations?.(database);
  await database.migrate(payments_migrations);
  await wallet_database.migrate(wallet_migrations);
  const customers = new TestCustomers();
  const bank = new SimulatedBank();
  const wallets = new WalletService({ database: wallet_database, ledger, customers, bank, keyring: new Keyring(generateKeyEncryptionKey()), recovery_interval_ms: 3_600_000 });
  await wallets.start();
  const vault = new TestVault();
  const acquirer = new CardAcquirerSimulator();
  const endpoint = await startNotificationEndpoint();

  const alipay_app = pemPair();
  const alipay_app_id = '2021000000000001';
  const alipay = await AlipaySandbox.start({ app_id: alipay_app_id, app_public_key: alipay_app.public_key });
  const wechat_merchant = pemPair();
  const wechat = { mchid: '1900009191', appid: 'wxd678efh567hg6787', serial_no: '408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB', api_v3_key: 'abcdefghijklmnopqrstuvwxyz012345' };
  const wechat_sandbox = await WeChatPaySandbox.start({
    mchid: wechat.mchid,
    appid: wechat.appid,
    merchant_serial_no: wechat.serial_no,
    merchant_public_key: wechat_merchant.public_key,
    api_v3_key: wechat.api_v3_key,
  });
  const connectors: Partial<Record<PaymentMethodType, Connector>> = {
    card: new CardConnector({ cards: vault, acquirer }),
    alipay: new AlipayConnector({
      gateway_url: alipay.gateway_url,
      app_id: alipay_app_id,
      app_private_key: alipay_app.private_key,
      alipay_public_key: alipay.alipay_public_key,
      notify_url: endpoint.url('alipay'),
    }),
    wechat_pay: new WeChatPayConnector({
      base_url: wechat_sandbox.url,
      mchid: wechat.mchid,
      serial_no: wechat.serial_no,
      merchant_private_key: wechat_merchant.private_key,
      platform_public_key: wechat_sandbox.platform_public_key,
      platform_serial_no: wechat_sandbox.platform_serial_no,
      api_v3_key: wechat.api_v3_key,
      notify_url: endpoint.url('wechat_pay'),
      appid: wechat.appid,
    }),
  };
  const publisher = new RecordingPublisher();
  const clock = new ManualClock(Date.now());
  const services: PaymentsService[] = [];
  const service = (service_options: Partial<PaymentsServiceOptions> = {}) => {
    const created = new PaymentsService({ database, ledger, connectors, wallet: wallets, tokens: vault, events: publisher, clock, ...quiet_timers, ...service_options });
    services.push(created);
    return created;
  };
  const payments = service();
  endpoint.use(payments);
  await payments.start();

  const account = async (id: bigint) => (await ledger.lookupAccounts([id]))[0];
  return {
    dialect,
    database,
    ledger,
    wallets,
    customers,
    vault,
    acquirer,
    alipay,
    wechat: wechat_sandbox,
    connectors,
    publisher,
    clock,
    payments,
    service,
    card: (tenant, number) => vault.add(tenant, number),
    fundedWallet: async (tenant, amount, currency = 'usd') => {
      const customer = randomId('cus');
      customers.add(tenant, customer);
      const wallet = await wallets.createWallet(tenant, { customer, currency });
      await wallets.topUp(tenant, wallet.id, { amount });
      return wallets.getWallet(tenant, wallet.id);
    },
    account,
    books: async (tenant, currency = 'USD', since) => {
      const books = { merchant_id: tenant.merchant_id, currency, livemode: tenant.livemode, chart: LedgerChart.per_merchant };
      const receivable = balancesOf(await account(receivableAccountId(books)));
      const fees = balancesOf(await account(feesAccountId(books)));
      return {
        merchant: balancesOf(await account(merchantAccountId(books))),
        receivable: since === undefined ? receivable : difference(receivable, since.receivable),
        fees: since === undefined ? fees : difference(fees, since.fees),
      };
    },
    close: async () => {
      for (const each of services) await each.close();
      await wallets.close();
      bank.close();
      await endpoint.close();
      await alipay.close();
      await wechat_sandbox.close();
      await ledger.close();
      await database.close();
      await wallet_database.close();
      await cleanup();
    },
  };
}

export async function openSqliteHarness(options: HarnessOptions = {}): Promise<Harness> {
  const directory = await temporaryDirectory();
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(directory.path, 'ledger.sqlite') }, { migrate: true }), { batch_wait_ms: 0 });
  const file = join(directory.path, 'payments.sqlite');
  const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
  const wallet_file = join(directory.path, 'wallet.sqlite');
  const wallet_database = createSqliteDatabase(openSqlite(wallet_file), { dialect: 'sqlite', file: wallet_file });
  return assemble('sqlite', database, wallet_database, ledger, () => directory.remove(), options);
}

export async function openPostgresHarness(url: string, options: HarnessOptions = {}): Promise<Harness> {
  const ledger_schema = await withTemporarySchema(url);
  const payments_schema = await withTemporarySchema(url);
  const wallet_schema = await withTemporarySchema(url);
  const ledger = await LedgerService.open(await openLedgerStore({ kind: 'postgres', url, schema: ledger_schema.schema }, { migrate: true }), { batch_wait_ms: 0 });
  const database = createPostgresDatabase(createPostgresPool({ url, schema: payments_schema.schema, max: 8 }), { dialect: 'postgres', url, schema: payments_schema.schema });
  const wallet_database = createPostgresDatabase(createPostgresPool({ url, schema: wallet_schema.schema, max: 4 }), { dialect: 'postgres', url, schema: wallet_schema.schema });
  return assemble(
    'postgres',
    database,
    wallet_database,
    ledger,
    async () => {
      await ledger_schema.drop();
      await payments_schema.drop();
      await wallet_schema.drop();
    },
    options,
  );
}

/** A fresh merchant in test mode, so that tests sharing a harness never see each other. */
export function newTenant(livemode = false): Tenant {
  return { merchant_id: randomId('acct'), livemode };
}

// Test harness: a webhooks database (a SQLite file, or a PostgreSQL temporary schema) that a
// second "process" can open too, services on it that are closed with the harness, and real HTTP
// receivers on 127.0.0.1 that check every delivery with the SDK's verifyWebhook.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createPostgresDatabase, createPostgresPool, createSqliteDatabase, openSqlite, randomId, type ServiceDatabase, type Tenant } from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { verifyWebhook, WebhookVerificationError, type WebhookEvent } from '@paygrid/sdk';
import { webhooks_migrations } from '../migrations';
import { WebhooksService, type WebhooksServiceOptions } from '../service';

export interface Harness {
  readonly dialect: 'sqlite' | 'postgres';
  readonly database: ServiceDatabase;
  /** The key-encryption keys every service of the harness seals endpoint secrets with, as one process's are shared. */
  readonly keyring: Keyring;
  /** Another connection to the same database, as a second process would have. */
  openSecondDatabase(): ServiceDatabase;
  /** A service on the harness's database (or the one given), closed with the harness. */
  service(options?: Partial<WebhooksServiceOptions>): WebhooksService;
  close(): Promise<void>;
}

/** Short timings so that a whole retry schedule runs in milliseconds. */
export const fast_options = {
  schedule: [10, 20, 30],
  delivery_timeout_ms: 1_000,
  lease_ms: 2_000,
  poll_interval_ms: 5,
} as const satisfies Partial<WebhooksServiceOptions>;

async function assemble(
  dialect: 'sqlite' | 'postgres',
  database: ServiceDatabase,
  openSecond: () => ServiceDatabase,
  cleanup: () => Promise<void>,
): Promise<Harness> {
  await database.migrate(webhooks_migrations);
  const services: WebhooksService[] = [];
  const databases: ServiceDatabase[] = [];
  const keyring = new Keyring(generateKeyEncryptionKey());
  return {
    dialect,
    database,
    keyring,
    openSecondDatabase: () => {
      const second = openSecond();
      databases.push(second);
      return second;
    },
    service: (options = {}) => {
      // Tests send to receivers on 127.0.0.1, as local development does.
      const created = new WebhooksService({ database, keyring, ...fast_options, test_mode_private_urls: true, ...options });
      services.push(created);
      return created;
    },
    close: async () => {
      for (const each of services) await each.close();
      for (const each of databases) await each.close();
      await database.close();
      await cleanup();
    },
  };
}

export async function openSqliteHarness(): Promise<Harness> {
  const directory = await temporaryDirectory();
  const file = join(directory.path, 'webhooks.sqlite');
  const open = () => createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
  return assemble('sqlite', open(), open, () => directory.remove());
}

export async function openPostgresHarness(url: string): Promise<Harness> {
  const temporary = await withTemporarySchema(url);
  const open = () => createPostgresDatabase(createPostgresPool({ url, schema: temporary.schema, max: 4 }), { dialect: 'postgres', url, schema: temporary.schema });
  return assemble('postgres', open(), open, () => temporary.drop());
}

/** A fresh merchant in test mode. */
export function newTenant(livemode = false): Tenant {
  return { merchant_id: randomId('acct'), livemode };
}

export interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The event, when the delivery verified with the receiver's secret. */
  readonly event: WebhookEvent | undefined;
  /** Why it did not verify. */
  readonly verification_error: string | undefined;
}

/** What the receiver does with a request: answer (after a pause), or never answer. */
export type Reply = { readonly status: number; readonly body?: string; readonly headers?: Record<string, string>; readonly delay_ms?: number } | 'hang';

export interface Receiver {
  readonly url: string;
  /** The endpoint's secret: set it once the endpoint exists; deliveries are verified with it. */
  secret: string;
  readonly received: Received[];
  /** How the next request is answered; 200 by default. Called with the number of requests before it. */
  reply: (index: number, received: Received) => Reply;
  /** Events that verified and were answered 2xx, by id, with how many times each. */
  deliveredCounts(): Map<string, number>;
  close(): Promise<void>;
}

export async function openReceiver(): Promise<Receiver> {
  const hung: ServerResponse[] = [];
  const receiver: Receiver = {
    url: '',
    secret: '',
    received: [],
    reply: () => ({ status: 200, body: 'ok' }),
    deliveredCounts: () => {
      const counts = new Map<string, number>();
      for (const [index, received] of receiver.received.entries()) {
        const reply = answers[index];
        if (received.event === undefined || reply === undefined || reply === 'hang' || reply.status < 200 || reply.status > 299) continue;
        counts.set(received.event.id, (counts.get(received.event.id) ?? 0) + 1);
      }
      return counts;
    },
    close: async () => {
      for (const response of hung) response.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const answers: Reply[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let event: WebhookEvent | undefined;
      let verification_error: string | undefined;
      try {
        event = verifyWebhook({ secret: receiver.secret, headers: request.headers, body });
      } catch (error) {
        verification_error = error instanceof WebhookVerificationError ? error.code : String(error);
      }
      const received: Received = { headers: request.headers, body, event, verification_error };
      const index = receiver.received.length;
      receiver.received.push(received);
      const reply = receiver.reply(index, received);
      answers.push(reply);
      if (reply === 'hang') {
        hung.push(response);
        return;
      }
      const send = () => {
        response.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        response.end(reply.body ?? '');
      };
      if (reply.delay_ms === undefined) send();
      else setTimeout(send, reply.delay_ms);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  Object.assign(receiver, { url: `http://127.0.0.1:${String(address.port)}/webhooks` });
  return receiver;
}

/** Polls until `check` returns true, for work the delivery loop finishes in the background. */
export async function eventually(check: () => boolean | Promise<boolean>, timeout_ms = 10_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

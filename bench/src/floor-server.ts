// The servers of the floor benchmark (floor.ts): what every signed POST to /v1 costs before any
// service does its work, built up one layer at a time from the pieces the gateway itself uses.
// FLOOR_LAYER picks how many layers run:
//   0: bare Fastify answering a constant (the API benchmark's yardstick);
//   1: the kernel's HTTP server (`createHttpServer`: raw-body JSON parser, metrics, request ids,
//      the error shape), as the platform serves every request;
//   2: + @fastify/compress and @fastify/cors, registered as the gateway registers them;
//   3: + the per-request work of authentication and the replay, rate and idempotency checks:
//      the key's SHA-256 (identity looks keys up by it), the request signature verified by
//      @paygrid/sdk/signing with its nonce remembered, a rate-limit token taken, and an
//      idempotency key claimed and its response kept, all in the kernel's memory cache;
//   4: + one durable ledger transfer per request: the ledger service on SQLite in this process,
//      opened as `npm start` opens it (its batching, its commit worker, its file in FLOOR_DATA_DIR),
//      one transfer between two of floor_accounts accounts, awaited until committed. This is the
//      one durable commit the design leaves on a money movement's path (decision 49), with none of
//      the wallet's own work: the floor of a durable transfer, not of the gateway alone.
// Layers 0 to 3 have no database and no service: each answers the same small JSON object.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import { fastify, type FastifyInstance } from 'fastify';
import { createHttpServer, createLogger, createMemoryCache, rawBodyOf } from '@paygrid/kernel';
import { LedgerService, emptyAccountEvent, emptyTransferEvent, openLedgerStore, type LedgerClient, type TransferEvent } from '@paygrid/ledger';
import { verifySignature } from '@paygrid/sdk/signing';

const layer = Number(process.env.FLOOR_LAYER ?? '0');
const port = Number(process.env.PORT);
const signing_secret = process.env.FLOOR_SIGNING_SECRET ?? '';
/** What every layer answers: about the size of a wallet transfer's first fields. */
const floor_answer = { id: 'wtr_floor', object: 'wallet_transfer', amount: 1, currency: 'usd', status: 'succeeded' };
const day_ms = 24 * 60 * 60 * 1000;
/** Accounts the commit layer's transfers move between, as many as the API benchmark's wallets. */
const floor_accounts = 50;
/** The ledger (currency) of the commit layer's accounts. */
const floor_ledger = 840;
/** The platform's default LEDGER_BATCH_WAIT_MS. */
const floor_batch_wait_ms = 1;

/** The commit layer's ledger, with its accounts created; undefined below layer 4. */
async function openFloorLedger(): Promise<LedgerClient | undefined> {
  if (layer < 4) return undefined;
  const data_dir = process.env.FLOOR_DATA_DIR;
  if (data_dir === undefined || data_dir === '') throw new Error('FLOOR_DATA_DIR must name a folder for the commit layer');
  const store = await openLedgerStore({ kind: 'sqlite', file: join(data_dir, 'ledger.sqlite') }, { migrate: true });
  const ledger = await LedgerService.open(store, { batch_wait_ms: floor_batch_wait_ms });
  const accounts = Array.from({ length: floor_accounts }, (_unused, index) => emptyAccountEvent({ id: BigInt(index + 1), ledger: floor_ledger, code: 1 }));
  const answers = await ledger.createAccounts(accounts);
  if (answers.some((answer) => answer.result !== 'ok')) throw new Error('the commit layer could not create its accounts');
  return ledger;
}

/** One transfer between two different accounts, with a fresh random 128-bit id. */
function floorTransfer(): TransferEvent {
  const debit = 1 + Math.floor(Math.random() * floor_accounts);
  const credit = 1 + ((debit + Math.floor(Math.random() * (floor_accounts - 1))) % floor_accounts);
  return emptyTransferEvent({
    id: BigInt(`0x${randomBytes(16).toString('hex')}`) | 1n,
    debit_account_id: BigInt(debit),
    credit_account_id: BigInt(credit),
    amount: 1n,
    ledger: floor_ledger,
    code: 1,
  });
}

async function buildApp(): Promise<FastifyInstance> {
  if (layer === 0) return fastify();
  const server = createHttpServer({ logger: createLogger({ name: 'floor', level: 'warn' }) });
  const app = server.app;
  if (layer >= 2) {
    await app.register(compress, { encodings: ['br', 'gzip'], threshold: 1024 });
    await app.register(cors, { origin: false, methods: ['GET', 'POST', 'PATCH'] });
  }
  if (layer >= 3) {
    const cache = createMemoryCache();
    const bucket = { capacity: 1_000_000, refill_per_second: 1_000_000 };
    app.addHook('onRequest', async (request) => {
      const key_hash = createHash('sha256').update(String(request.headers.authorization)).digest('hex');
      await cache.takeToken(`rate:${key_hash}`, bucket);
    });
    app.addHook('preValidation', async (request) => {
      const header = request.headers['paygrid-signature'];
      const verified = verifySignature({
        header: typeof header === 'string' ? header : '',
        secrets: [signing_secret],
        method: request.method,
        path: request.url,
        body: rawBodyOf(request) ?? '',
        now_seconds: Math.floor(Date.now() / 1000),
      });
      if (!verified.ok) throw new Error(verified.code);
      if (!(await cache.setIfAbsent(`nonce:${verified.nonce}`, '1', 600_000))) throw new Error('replayed');
    });
    app.addHook('preHandler', async (request) => {
      const fingerprint = createHash('sha256').update(rawBodyOf(request) ?? '').digest('hex');
      await cache.setIfAbsent(`idem:${String(request.headers['idempotency-key'])}`, JSON.stringify({ state: 'running', fingerprint }), 60_000);
    });
    app.addHook('onSend', async (request, reply, payload) => {
      if (typeof payload === 'string') await cache.set(`idem:${String(request.headers['idempotency-key'])}`, JSON.stringify({ state: 'done', status: reply.statusCode, body: payload }), day_ms);
      return payload;
    });
  }
  return app;
}

const app = await buildApp();
const ledger = await openFloorLedger();
app.post('/', async () => {
  if (ledger !== undefined) {
    const [answer] = await ledger.createTransfers([floorTransfer()]);
    if (answer?.result !== 'ok') throw new Error(`the ledger answered ${answer?.result ?? 'nothing'}`);
  }
  return floor_answer;
});
const address = await app.listen({ host: '127.0.0.1', port });
console.log(`floor server (layer ${layer}) at ${address}`);

import { parseArgs } from 'node:util';
import { ConfigError, describeDatabaseLocation, live_capability_labels, live_capability_names, loadPlatformConfig, openDatabase } from '@paygrid/kernel';
import { describeLedgerStore, ledgerStoreLocation, ledger_schema_default, migrateLedgerStore, migrateShardedLedger, openLedgerStore, verifyLedger, verifyShards } from '@paygrid/ledger';
import { backupCommand, restoreCommand } from './backup-command';
import { busCommand, bus_usage } from './bus-command';
import { startDistributed } from './distributed';
import { describeKeySource, keysCommand, keys_usage } from './keys-command';
import { ledgerShardsCommand } from './ledger-shards';
import { UsageError, describeCardAcquirer, describeProvider, parseServices, service_migrations, startPlatform } from './platform';

const usage = {
  main: `Usage: paygrid <command> [options]

Commands:
  start           run the platform (every service in one process by default)
  distributed     run every service as its own process on this machine (npm run start:distributed)
  migrate         apply database migrations for every service
  ledger verify   prove the ledger's hash chain and balances
  ledger shards add URL  add a shard to the running sharded ledger and move its accounts
  keys            the key-encryption key: status, rotate, rewrap (online)
  bus             the bus's dead letters: list them, deliver one again
  backup DIR      copy every embedded database (and the keys in DATA_DIR) online into DIR
  restore DIR     bring a backup back into a new, empty DATA_DIR
  bench           run benchmarks (paygrid bench ledger | api | payments | floor | distributed)

Run "paygrid <command> --help" for a command's options.`,
  start: `Usage: paygrid start [--services ledger,identity,wallet,gateway]

Runs Paygrid. With no DATABASE_URL it uses embedded SQLite files under DATA_DIR (default ./data);
with DATABASE_URL it uses one PostgreSQL schema per service.

Options:
  --services LIST   comma-separated services to run in this process (default: all); the others
                    are reached at <SERVICE>_SERVICE_URLS (LEDGER_SERVICE_URLS, PAYMENTS_SERVICE_URLS,
                    ...: comma-separated origins), with mutual TLS from SERVICE_TLS_CA_FILE,
                    SERVICE_TLS_CERT_FILE and SERVICE_TLS_KEY_FILE (docs/operations.md)

Environment: PORT (8080), HOST (127.0.0.1), DATA_DIR (./data), DATABASE_URL, LOG_LEVEL (info),
PAYGRID_OPERATOR_KEY, PAYGRID_VAULT_KEK or PAYGRID_VAULT_KEK_FILE (DATA_DIR/vault.kek),
PAYGRID_VAULT_KEK_PREVIOUS, LEDGER_BATCH_WAIT_MS (1), LEDGER_SHARD_URLS (the ledger over these
PostgreSQL databases as shards), MIGRATE_ON_START, REDIS_URL (cache; in memory
without it), NATS_URL (bus: NATS JetStream; in process without it) and BUS_STREAM_PREFIX (paygrid:
streams PAYGRID_WALLET, PAYGRID_PAYMENTS, PAYGRID_DEAD), TLS_CERT_FILE and TLS_KEY_FILE (serve HTTPS), DASHBOARD_ORIGIN (CORS),
GATEWAY_RATE_LIMIT_PER_SECOND (100) and GATEWAY_RATE_LIMIT_BURST (200) per API key,
WEBHOOK_ALLOW_PRIVATE_URLS (false), WEBHOOK_TEST_MODE_PRIVATE_URLS (true embedded, false with
DATABASE_URL), PAYMENTS_CAPTURE_WINDOW_SECONDS (604800), PAYMENTS_FEE_BPS
(290) and PAYMENTS_FEE_FIXED (30). Real payment providers: CARD_ACQUIRER_URL with
CARD_ACQUIRER_TOKEN_FILE and/or CARD_ACQUIRER_CLIENT_CERT_FILE and CARD_ACQUIRER_CLIENT_KEY_FILE
(CARD_ACQUIRER_CA_FILE optional), ALIPAY_* and WECHAT_PAY_* with PUBLIC_BASE_URL (see
docs/operations.md); without them the simulator and sandboxes run in process, for test mode only.
The banner lists what live mode can do; live requests needing anything else are refused.
SIGTERM or SIGINT stops it gracefully, within SHUTDOWN_TIMEOUT_MS (30000).`,
  distributed: `Usage: paygrid distributed   (npm run start:distributed)

Runs every service as its own process on this machine: ledger, identity, vault, webhooks, wallet,
two instances of payments, and the gateway on PORT, each started as
\`paygrid start --services <name>\` on the next free ports above PORT and told where the others are
(<SERVICE>_SERVICE_URLS). Needs DATABASE_URL (one schema per service); NATS_URL and REDIS_URL are
passed on. The operator key and the key-encryption key are settled once and handed to every
process (a key file is made in DATA_DIR when neither PAYGRID_VAULT_KEK nor PAYGRID_VAULT_KEK_FILE
is set). A process that dies is started again; SIGTERM stops them all, gateway first, ledger last.`,
  migrate: `Usage: paygrid migrate [--services ledger,payments]

Applies every service's pending migrations to DATA_DIR's SQLite files or, with DATABASE_URL, to
PostgreSQL. Production runs this as its own step before starting services.

Options:
  --services LIST   only these services' migrations (default: all): with a database per service,
                    each is migrated with its own DATABASE_URL (the gateway has none)`,
  verify: `Usage: paygrid ledger verify [--json]

Recomputes the ledger's hash chain batch by batch, replays every transfer into balances, and
checks them against the stored balances and that every ledger's debits equal its credits.
Exits 0 when the ledger verifies, 1 naming the first bad batch or account otherwise.

Options:
  --json   print the report as JSON`,
  keys: keys_usage,
  bus: bus_usage,
  bench: `Usage: paygrid bench ledger|api|payments|floor|distributed [--json] [--quick]

ledger: measures ledger transfers per second and commit latency on SQLite and (with
DATABASE_URL) PostgreSQL, then full batches of 8,190 transfers over the HTTP API of a platform
started as \`npm start\` does, as JSON and in the binary encoding; compares with pgbench
tpcb-like, checks that money is conserved, and measures memory for 1,000,000 accounts.
api: drives signed peer-to-peer wallet transfers through the HTTP API of a platform started as
\`npm start\` does, compares with the floor's last layer measured in the same run (and a bare
Fastify server answering {}), measures one transfer's latency at zero load, and latency at half
the rate reached, with requests evenly paced.
payments: card payments (token, create, confirm) through the signed HTTP API against the
in-process card simulator at zero latency, compared with the same floor layer and bare server.
floor: the share of bare Fastify's rate left once a signed POST does only what every /v1 POST
must (the kernel's server, compression and CORS, key hash, signature and nonce, rate token,
idempotency key), with no service behind it: the ceiling of the api figure on this machine.
distributed: the api and payments measurements against every service as its own process
(paygrid distributed, on DATABASE_URL, NATS_URL and REDIS_URL) beside the all-in-one process, in
the same run; prints the ratio. Needs DATABASE_URL; creates and drops a database of its own.

Options:
  --json    print machine-readable results
  --quick   shorter runs, for a smoke check`,
};

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await start(rest);
      case 'distributed':
        return await distributed(rest);
      case 'migrate':
        return await migrate(rest);
      case 'ledger':
        if (rest[0] === 'verify') return await verify(rest.slice(1));
        if (rest[0] === 'shards') return await ledgerShardsCommand(rest.slice(1));
        console.error(rest[0] === undefined || rest[0] === '--help' ? usage.verify : `unknown ledger command "${rest[0]}"\n\n${usage.verify}`);
        return rest[0] === '--help' ? 0 : 2;
      case 'keys':
        return await keysCommand(rest);
      case 'bus':
        return await busCommand(rest);
      case 'backup':
        return await backupCommand(rest);
      case 'restore':
        return await restoreCommand(rest);
      case 'bench': {
        const { runBench } = await import('@paygrid/bench');
        return await runBench(rest, usage.bench);
      }
      case undefined:
      case '--help':
      case 'help':
        console.log(usage.main);
        return command === undefined ? 2 : 0;
      default:
        console.error(`unknown command "${command}"\n\n${usage.main}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`paygrid: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

async function start(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { services: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(usage.start);
    return 0;
  }
  const services = parseServices(values.services);
  const platform = await startPlatform({ services });
  const key = platform.operator_key;
  console.log(`Paygrid is running at ${platform.url}`);
  if (!services.includes('gateway')) {
    // A service process of a distributed install: no public API here, so no tour of it.
    console.log(`  services:     ${services.join(', ')} (reached by the others at this address)`);
    console.log(`  ledger:       ${platform.ledger_store}`);
    for (const [service, location] of Object.entries(platform.databases)) console.log(`  ${`${service}:`.padEnd(13)} ${location}`);
    console.log(`  metrics:      ${platform.metrics_url === undefined ? `${platform.url}/metrics (operator key)` : `${platform.metrics_url}/metrics`}`);
    await untilStopSignal();
    return closeWithin(() => platform.close(), platform.config.SHUTDOWN_TIMEOUT_MS);
  }
  console.log(`  data:         ${platform.config.DATABASE_URL === undefined ? platform.config.DATA_DIR : 'PostgreSQL (DATABASE_URL)'}`);
  console.log(`  ledger:       ${platform.ledger_store}`);
  for (const [service, location] of Object.entries(platform.databases)) console.log(`  ${`${service}:`.padEnd(13)} ${location}`);
  if (platform.key_source !== undefined) console.log(`  vault key:    ${describeKeySource(platform.key_source)}`);
  if (key.source === 'environment') console.log('  operator key: from PAYGRID_OPERATOR_KEY');
  else console.log(`  operator key: in ${key.file ?? ''}${key.source === 'generated' ? ` (new, shown once: ${key.key})` : ''}`);
  console.log(`  API docs:     ${platform.url}/docs`);
  if (platform.card_acquirer !== undefined) console.log(`  cards:        ${describeCardAcquirer(platform.card_acquirer)}`);
  console.log(`  metrics:      ${platform.metrics_url === undefined ? `${platform.url}/metrics (operator key)` : `${platform.metrics_url}/metrics`}`);
  if (platform.providers !== undefined) {
    console.log(`  Alipay:       ${describeProvider(platform.providers.alipay)}`);
    console.log(`  WeChat Pay:   ${describeProvider(platform.providers.wechat_pay)}`);
  }
  // A newcomer with live keys must see at once what would be refused, and why.
  console.log('  live mode:    (test mode always uses the simulators; GET /v1/account shows the same)');
  for (const name of live_capability_names) {
    const capability = platform.live_capabilities[name];
    const label = live_capability_labels[name].padEnd(30);
    console.log(`    ${label}${capability.status === 'active' ? `on   ${capability.adapter}` : `off  needs ${capability.missing}`}`);
  }
  console.log(`  try:          curl -H "Authorization: Bearer <operator key>" -H "Content-Type: application/json" -d '{"name":"Acme"}' ${platform.url}/v1/merchants`);

  await untilStopSignal();
  return closeWithin(() => platform.close(), platform.config.SHUTDOWN_TIMEOUT_MS);
}

function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      console.log(`\n${signal}: finishing in-flight work and shutting down`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/**
 * Runs a graceful close, but no longer than the shutdown time: an orchestrator kills a process that
 * overstays, and a failure code says the close did not finish rather than pretend it did.
 */
async function closeWithin(close: () => Promise<void>, timeout_ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<'overdue'>((resolve) => {
    timer = setTimeout(() => resolve('overdue'), timeout_ms);
  });
  try {
    const outcome = await Promise.race([close().then(() => 'closed' as const), overdue]);
    if (outcome === 'overdue') {
      console.error(`paygrid: shutdown did not finish within SHUTDOWN_TIMEOUT_MS (${timeout_ms} ms); exiting anyway`);
      return 1;
    }
    return 0;
  } finally {
    clearTimeout(timer);
  }
}

async function distributed(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(usage.distributed);
    return 0;
  }
  const running = await startDistributed();
  console.log(`Paygrid (distributed) is running at ${running.url}`);
  for (const entry of running.processes) console.log(`  ${`${entry.service}${entry.service === 'payments' ? `-${entry.instance}` : ''}:`.padEnd(13)} pid ${String(entry.pid)}, port ${entry.port}`);
  await untilStopSignal();
  return (await running.stop()) ? 0 : 1;
}

async function migrate(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { services: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(usage.migrate);
    return 0;
  }
  const services = parseServices(values.services);
  const config = loadPlatformConfig(process.env);
  if (services.includes('ledger') && config.LEDGER_SHARD_URLS !== undefined) {
    const applied = await migrateShardedLedger({ shard_urls: config.LEDGER_SHARD_URLS });
    applied.forEach((versions, index) => console.log(`ledger shard ${index}: ${versions.length === 0 ? 'up to date' : `applied ${versions.join(', ')}`}`));
  } else if (services.includes('ledger')) {
    const location = ledgerStoreLocation(config);
    const applied = await migrateLedgerStore(location);
    console.log(`ledger (${describeLedgerStore(location)}): ${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`}`);
  }
  for (const [service, migrations] of Object.entries(service_migrations)) {
    if (!(services as readonly string[]).includes(service)) continue;
    const database = await openDatabase({ config, service });
    try {
      const versions = await database.migrate(migrations);
      console.log(`${service} (${describeDatabaseLocation(database.location)}): ${versions.length === 0 ? 'up to date' : `applied ${versions.join(', ')}`}`);
    } finally {
      await database.close();
    }
  }
  return 0;
}

/** `ledger verify` over LEDGER_SHARD_URLS: each shard's proof, then the clearing accounts' mirror. */
async function verifySharded(shard_urls: readonly string[], json: boolean): Promise<number> {
  const stores = await Promise.all(shard_urls.map((url) => openLedgerStore({ kind: 'postgres', url, schema: ledger_schema_default }, { migrate: false })));
  try {
    const report = await verifyShards(stores.map((store, index) => ({ index, store })));
    if (json) {
      console.log(JSON.stringify({ ...report, bad_batch: report.bad_batch?.toString(), shards: report.shards.map((shard) => ({ ...shard, bad_batch: shard.bad_batch?.toString() })) }));
    } else if (report.ok) {
      console.log(
        `ledger verified over ${stores.length} shards: ${report.batches} batches, ${report.accounts} accounts, ${report.transfers} transfers; every shard's hash chain intact, balances match, every ledger balances, and every pair of clearing accounts mirror each other`,
      );
    } else {
      console.error(`ledger verification FAILED: ${report.problem ?? ''}`);
    }
    return report.ok ? 0 : 1;
  } finally {
    for (const store of stores) await store.close();
  }
}

async function verify(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(usage.verify);
    return 0;
  }
  const config = loadPlatformConfig(process.env);
  if (config.LEDGER_SHARD_URLS !== undefined) return verifySharded(config.LEDGER_SHARD_URLS, values.json === true);
  const location = ledgerStoreLocation(config);
  // Verification only reads; it never takes the writer's fence, so it runs beside a live writer.
  const store = await openLedgerStore(location, { migrate: false });
  try {
    const report = await verifyLedger(store);
    if (values.json === true) {
      console.log(JSON.stringify({ ...report, bad_batch: report.bad_batch?.toString() }));
    } else if (report.ok) {
      console.log(`ledger verified: ${report.batches} batches, ${report.accounts} accounts, ${report.transfers} transfers; hash chain intact, balances match, every ledger balances`);
    } else {
      console.error(`ledger verification FAILED${report.bad_batch === undefined ? '' : ` at batch ${report.bad_batch}`}: ${report.problem ?? ''}`);
    }
    return report.ok ? 0 : 1;
  } finally {
    await store.close();
  }
}

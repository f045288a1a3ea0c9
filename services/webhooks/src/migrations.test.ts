// Version 2 moves pending deliveries onto saga runs. A database written by version 1 must carry on
// where it stood: a delivery never attempted is sent at once, a retried one keeps its place in the
// schedule (and its attempt count), and finished ones are left alone. Version 3 seals endpoint
// signing secrets: the start-up step seals the plain-text ones, and deliveries go on being signed
// with the same secret.
import { join } from 'node:path';
import { ManualClock, createPostgresDatabase, createPostgresPool, createSqliteDatabase, findRun, listTransitions, openSqlite, type ServiceDatabase } from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { describe, expect, it } from 'vitest';
import { webhooks_migrations } from './migrations';
import { WebhooksService } from './service';
import { newEndpointSecret } from './signing';
import { eventually, newTenant, openReceiver } from './testing/harness';

function migrationSuite(open: () => Promise<{ database: ServiceDatabase; cleanup: () => Promise<void> }>): void {
  it('turns pending version-1 deliveries into runs that go on where they stood', async () => {
    const { database, cleanup } = await open();
    const receiver = await openReceiver();
    try {
      const version_1 = webhooks_migrations.filter((migration) => migration.version === 1);
      await database.migrate(version_1);
      const tenant = newTenant();
      // Receivers check the signature's timestamp against their own clock.
      const clock = new ManualClock(Date.now());
      const now_ms = clock.now();
      receiver.secret = newEndpointSecret();
      await database.execute(
        `INSERT INTO webhook_endpoints (id, merchant_id, livemode, url, enabled_events, status, description, secret, version, failing_since_ms, created)
         VALUES ('we_1', ?, ?, ?, '["*"]', 'enabled', NULL, ?, 1, NULL, 0)`,
        [tenant.merchant_id, tenant.livemode, receiver.url, receiver.secret],
      );
      const body = (id: string) => JSON.stringify({ id, object: 'event', type: 'order.updated', data: { object: { id: 'ord_1', object: 'order' } }, sequence: 1, created: 0, livemode: false });
      for (const id of ['evt_fresh', 'evt_retried', 'evt_done']) {
        await database.execute("INSERT INTO webhook_events (id, merchant_id, livemode, type, object_sequence, body, created) VALUES (?, ?, ?, 'order.updated', 1, ?, 0)", [
          id,
          tenant.merchant_id,
          tenant.livemode,
          body(id),
        ]);
      }
      const delivery = (id: string, event: string, status: string, attempts: number, next_attempt_ms: number, lease_token: string | null) =>
        database.execute(
          `INSERT INTO webhook_deliveries (id, merchant_id, livemode, event_id, endpoint_id, kind, status, attempts, next_attempt_ms, lease_token, first_attempt_ms, created)
           VALUES (?, ?, ?, ?, 'we_1', 'automatic', ?, ?, ?, ?, ?, 0)`,
          [id, tenant.merchant_id, tenant.livemode, event, status, attempts, next_attempt_ms, lease_token, attempts === 0 ? null : now_ms - 10_000],
        );
      await delivery('wdl_fresh', 'evt_fresh', 'pending', 0, now_ms, null);
      // Two failed attempts, the third due in a minute; a process held it when it stopped.
      await delivery('wdl_retried', 'evt_retried', 'pending', 2, now_ms + 60_000, 'old-process');
      await delivery('wdl_done', 'evt_done', 'succeeded', 1, now_ms, null);

      expect(await database.migrate(webhooks_migrations)).toEqual([2, 3, 4]);
      expect(await findRun(database, 'wdl_fresh')).toMatchObject({ saga: 'webhook_delivery', step: 'send', status: 'ready', tries: 0, due_ms: now_ms });
      expect(await findRun(database, 'wdl_retried')).toMatchObject({ status: 'retrying', tries: 2, due_ms: now_ms + 60_000 });
      expect(await findRun(database, 'wdl_done')).toBeUndefined();
      expect((await listTransitions(database, 'wdl_retried')).map((row) => row.reason)).toEqual(['migrated']);

      const service = new WebhooksService({ database, keyring: new Keyring(generateKeyEncryptionKey()), clock, schedule: [10, 20, 30], test_mode_private_urls: true });
      expect(await service.sealLegacySecrets()).toBe(1);
      expect(await service.deliverDue()).toBe(1);
      clock.advance(60_000);
      expect(await service.deliverDue()).toBe(1);
      await eventually(() => receiver.deliveredCounts().size === 2);
      expect(receiver.received.map((received) => received.event?.id)).toEqual(['evt_fresh', 'evt_retried']);
      const attempts = await database.query<{ delivery_id: string; attempt_number: number }>('SELECT delivery_id, attempt_number FROM webhook_delivery_attempts ORDER BY sequence');
      expect(attempts).toEqual([
        { delivery_id: 'wdl_fresh', attempt_number: 1 },
        { delivery_id: 'wdl_retried', attempt_number: 3 },
      ]);
      await service.close();
    } finally {
      await receiver.close();
      await database.close();
      await cleanup();
    }
  });

  it('seals version-2 plain-text secrets at start, in batches, keeping their last four characters, and signs with them after', async () => {
    const { database, cleanup } = await open();
    const receiver = await openReceiver();
    try {
      await database.migrate(webhooks_migrations.filter((migration) => migration.version <= 2));
      const tenant = newTenant();
      const secrets = [newEndpointSecret(), newEndpointSecret(), newEndpointSecret()];
      receiver.secret = secrets[0] ?? '';
      for (const [index, secret] of secrets.entries()) {
        await database.execute(
          `INSERT INTO webhook_endpoints (id, merchant_id, livemode, url, enabled_events, status, description, secret, version, failing_since_ms, created)
           VALUES (?, ?, ?, ?, '["*"]', ?, NULL, ?, 1, NULL, 0)`,
          [`we_${index}`, tenant.merchant_id, tenant.livemode, receiver.url, index === 0 ? 'enabled' : 'disabled', secret],
        );
      }
      expect(await database.migrate(webhooks_migrations)).toEqual([3, 4]);
      const keyring = new Keyring(generateKeyEncryptionKey());
      const service = new WebhooksService({ database, keyring, schedule: [10, 20, 30], test_mode_private_urls: true });
      expect(await service.sealLegacySecrets({ batch_size: 2 })).toBe(3);
      expect(await service.sealLegacySecrets()).toBe(0);
      const rows = await database.query<{ id: string; secret: string; secret_last4: string; secret_kek_id: string }>(
        'SELECT id, secret, secret_last4, secret_kek_id FROM webhook_endpoints ORDER BY id',
      );
      expect(rows).toEqual(secrets.map((secret, index) => ({ id: `we_${index}`, secret: '', secret_last4: secret.slice(-4), secret_kek_id: keyring.current.id })));
      expect(await service.countDataKeysByKek()).toEqual(new Map([[keyring.current.id, 3]]));
      // A process without that key stops at start rather than at the first delivery, naming the key, never a secret.
      const stranger = new WebhooksService({ database, keyring: new Keyring(generateKeyEncryptionKey()), schedule: [10, 20, 30] });
      await expect(stranger.start()).rejects.toThrow(new RegExp(`under key-encryption key ${keyring.current.id}, which this process was not given`));
      await stranger.close();
      expect((await service.getEndpoint(tenant, 'we_1')).secret_last4).toBe(secrets[1]?.slice(-4));
      // The sealed secret signs deliveries: the receiver checks them with the secret it always had.
      await service.start();
      await service.publish(tenant, { id: 'evt_after_sealing', type: 'order.updated', data: { object: { id: 'ord_1', object: 'order' } }, sequence: 1, created: 0 });
      await eventually(() => receiver.deliveredCounts().size === 1);
      expect(receiver.received.map((received) => received.event?.id)).toEqual(['evt_after_sealing']);
      await service.close();
    } finally {
      await receiver.close();
      await database.close();
      await cleanup();
    }
  });
}

describe('webhooks migrations on SQLite', () => {
  migrationSuite(async () => {
    const directory = await temporaryDirectory();
    const file = join(directory.path, 'webhooks.sqlite');
    return { database: createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file }), cleanup: () => directory.remove() };
  });
});

describeWithPostgres('webhooks migrations on PostgreSQL', (url) => {
  migrationSuite(async () => {
    const temporary = await withTemporarySchema(url);
    const database = createPostgresDatabase(createPostgresPool({ url, schema: temporary.schema, max: 2 }), { dialect: 'postgres', url, schema: temporary.schema });
    return { database, cleanup: () => temporary.drop() };
  });
});

import { describe } from 'vitest';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { openPostgresHarness, openSqliteHarness } from './testing/harness';
import { webhooksSuite } from './testing/suite';

describe('webhooks service on SQLite', () => {
  webhooksSuite(openSqliteHarness);
});

describeWithPostgres('webhooks service on PostgreSQL', (url) => {
  webhooksSuite(() => openPostgresHarness(url));
});

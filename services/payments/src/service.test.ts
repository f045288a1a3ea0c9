import { describe } from 'vitest';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { openPostgresHarness, openSqliteHarness } from './testing/harness';
import { paymentsSuite } from './testing/suite';

describe('payments service on SQLite', () => {
  paymentsSuite(openSqliteHarness);
});

describeWithPostgres('payments service on PostgreSQL', (url) => {
  paymentsSuite(() => openPostgresHarness(url));
});

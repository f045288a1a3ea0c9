import { describe } from 'vitest';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { openPostgresHarness, openSqliteHarness } from './testing/harness';
import { walletSuite } from './testing/suite';

describe('wallet service on SQLite', () => {
  walletSuite(openSqliteHarness);
});

describeWithPostgres('wallet service on PostgreSQL', (url) => {
  walletSuite(() => openPostgresHarness(url));
});

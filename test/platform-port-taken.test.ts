// A platform whose port is taken stops cleanly: everything it had opened (the ledger writer's
// fence, every database) is closed, so a second start on the same data folder goes ahead at once
// instead of waiting for a fence that nobody will give back.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { expect, it } from 'vitest';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { startPlatform } from '../apps/cli/src/platform';
import { freePort } from './support/platform';

it('closes what it opened when its port is taken, so the same data folder starts again at once', async () => {
  const directory = await temporaryDirectory();
  const blocker = createServer();
  await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
  const address = blocker.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const env = { DATA_DIR: directory.path, PAYGRID_OPERATOR_KEY: `op-test-${randomBytes(24).toString('hex')}`, LOG_LEVEL: 'silent' };
  try {
    await expect(startPlatform({ env, port: address.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const started_ms = Date.now();
    const platform = await startPlatform({ env, port: await freePort() });
    try {
      // The fence's wait alone would take far longer: a writer left open holds it until its process ends.
      expect(Date.now() - started_ms).toBeLessThan(20_000);
      const health = await fetch(`${platform.url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      await platform.close();
    }
  } finally {
    await new Promise<void>((done) => blocker.close(() => done()));
    await directory.remove();
  }
}, 60_000);

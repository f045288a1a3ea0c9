// The same acceptance journeys (support/acceptance.ts) against both run modes: the all-in-one
// process that `npm start` runs, and the distributed mode, every service its own process on
// PostgreSQL, NATS and Redis, with two instances of payments behind the load balancer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithPostgresNatsAndRedis } from '@paygrid/kernel/testing';
import { paymentsJourney, walletJourney, type Deployment } from './support/acceptance';
import { startDistributedTestDeployment, type DistributedTestDeployment } from './support/distributed';
import { startTestPlatform, type TestPlatform } from './support/platform';

describe('acceptance, all in one process', () => {
  let test: TestPlatform;
  let deployment: Deployment;

  beforeAll(async () => {
    test = await startTestPlatform();
    const providers = test.platform.providers;
    deployment = {
      url: test.url,
      operator_key: test.operator_key,
      sandboxes: {
        alipay: providers?.alipay.mode === 'sandbox' ? providers.alipay.url : '',
        wechat_pay: providers?.wechat_pay.mode === 'sandbox' ? providers.wechat_pay.url : '',
      },
    };
  });
  afterAll(async () => {
    await test.close();
  });

  it('runs the wallet journey', async () => {
    await walletJourney(deployment);
  });
  it('runs the payments journey', async () => {
    await paymentsJourney(deployment);
  });
});

describeWithPostgresNatsAndRedis('acceptance, every service its own process', (urls) => {
  let deployment: DistributedTestDeployment;

  beforeAll(async () => {
    deployment = await startDistributedTestDeployment(urls);
  }, 120_000);
  afterAll(async () => {
    expect(await deployment.stop()).toBe(true);
  }, 60_000);

  it('runs the wallet journey', async () => {
    await walletJourney(deployment);
  }, 60_000);
  it('runs the payments journey', async () => {
    await paymentsJourney(deployment);
  }, 60_000);
});

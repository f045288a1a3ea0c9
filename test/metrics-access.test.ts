// /metrics is never public: on the API's port it answers the operator key alone, and with
// METRICS_PORT it moves to a listener of its own and the API's port has none.
import { describe, expect, it } from 'vitest';
import { createTestMerchant, freePort, startTestPlatform } from './support/platform';

describe('/metrics', () => {
  it('on the public port answers only the operator key', async () => {
    const test = await startTestPlatform();
    try {
      expect(test.platform.metrics_url).toBeUndefined();
      const merchant = await createTestMerchant(test);
      await merchant.client.customers.create({ name: 'Ada' });
      const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${merchant.secret_key}` }, { authorization: 'Bearer guess' }];
      for (const headers of attempts) {
        const response = await fetch(`${test.url}/metrics`, { headers });
        expect(response.status).toBe(401);
        const body = await response.text();
        expect(JSON.parse(body)).toMatchObject({ error: { type: 'authentication_error' } });
        expect(body).not.toContain('paygrid_http_request_duration_seconds');
      }
      const response = await fetch(`${test.url}/metrics`, { headers: { authorization: `Bearer ${test.operator_key}` } });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain('paygrid_http_request_duration_seconds_count{method="POST",route="/v1/customers",status_code="200"} 1');
      expect(text).toContain('paygrid_ledger_batch_commit_seconds');
    } finally {
      await test.close();
    }
  });

  it('with METRICS_PORT is served there alone, to the scraper, and not at all on the public port', async () => {
    const metrics_port = await freePort();
    const test = await startTestPlatform({ env: { METRICS_PORT: String(metrics_port) } });
    try {
      expect(test.platform.metrics_url).toBe(`http://127.0.0.1:${metrics_port}`);
      const merchant = await createTestMerchant(test);
      await merchant.client.customers.create({ name: 'Ada' });
      const on_public_port = await fetch(`${test.url}/metrics`, { headers: { authorization: `Bearer ${test.operator_key}` } });
      expect(on_public_port.status).toBe(404);
      expect(await on_public_port.text()).not.toContain('paygrid_http_request_duration_seconds');
      const response = await fetch(`${test.platform.metrics_url ?? ''}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('paygrid_http_request_duration_seconds_count{method="POST",route="/v1/customers",status_code="200"} 1');
      // Nothing but /metrics there: not the API, not the probes.
      for (const path of ['/v1/customers', '/healthz', '/docs']) {
        expect([path, (await fetch(`${test.platform.metrics_url ?? ''}${path}`)).status]).toEqual([path, 404]);
      }
    } finally {
      await test.close();
    }
    // Closed with the platform.
    await expect(fetch(`http://127.0.0.1:${metrics_port}/metrics`)).rejects.toThrow();
  });
});

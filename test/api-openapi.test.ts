// The OpenAPI 3.1 document comes from the same schemas that validate requests. It must pass a
// real validator, cover every route the SDK calls (and nothing the SDK lacks), and the /docs
// page must show every operation.
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdk_routes } from '@paygrid/sdk';
import { startTestPlatform, type TestPlatform } from './support/platform';

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { summary?: string; requestBody?: unknown; responses?: Record<string, { description: string }> }>>;
}

describe('the OpenAPI document', () => {
  let test: TestPlatform;
  let document: OpenApiDocument;

  beforeAll(async () => {
    test = await startTestPlatform();
    const response = await fetch(`${test.url}/v1/openapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as OpenApiDocument;
  });

  afterAll(async () => {
    await test.close();
  });

  it('is valid OpenAPI 3.1', async () => {
    expect(document.openapi).toBe('3.1.0');
    // validate() dereferences its argument in place, so it gets a copy.
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined();
  });

  it('documents exactly the routes the SDK calls', () => {
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .filter((operation) => !operation.includes('/v1/ledger/'))
      .sort();
    const called = sdk_routes.map((route) => `${route.method} ${route.path}`).sort();
    expect(called).toEqual(documented);
  });

  it('describes request bodies with the validating schemas', () => {
    const body = document.paths['/v1/wallet_transfers']?.post?.requestBody as { content: { 'application/json': { schema: { required: string[]; additionalProperties: boolean } } } };
    expect(body.content['application/json'].schema.required).toEqual(expect.arrayContaining(['source', 'destination', 'amount', 'currency']));
    expect(body.content['application/json'].schema.additionalProperties).toBe(false);
  });

  it('names the errors a client should expect: the 409 of a completed test withdrawal, the 403 of a merchant state', () => {
    for (const outcome of ['succeed', 'fail']) {
      const responses = document.paths[`/v1/test_helpers/withdrawals/{id}/${outcome}`]?.post?.responses ?? {};
      expect(responses['409']?.description).toMatch(/withdrawal_already_completed/);
    }
    // Money routes can be refused by the merchant's state; reads never are.
    expect(document.paths['/v1/wallet_transfers']?.post?.responses?.['403']?.description).toMatch(/merchant_suspended, kyc_not_verified or kyc_rejected/);
    expect(document.paths['/v1/wallet_transfers']?.get?.responses?.['403']).toBeUndefined();
  });

  it('serves a readable docs page with every operation', async () => {
    const response = await fetch(`${test.url}/docs`);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('Paygrid-Signature');
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations)) expect(html).toContain(`${method.toUpperCase()} ${path}`);
    }
  });
});

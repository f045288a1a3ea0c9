import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const text = () => chunks.join('');
  return {
    stream,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const card_number = '4242424242424242';
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('createLogger', () => {
  it('writes JSON lines with the name and level', () => {
    const output = capture();
    const logger = createLogger({ level: 'info', name: 'payments', destination: output.stream });
    logger.info({ payment_id: 'pay_1' }, 'captured');
    logger.debug('not at info');
    expect(output.lines()).toEqual([expect.objectContaining({ level: 30, name: 'payments', msg: 'captured', payment_id: 'pay_1' })]);
  });

  it('redacts card data, secrets and keys at the top level and one or two levels down', () => {
    const output = capture();
    const logger = createLogger({ level: 'info', name: 'vault', destination: output.stream });
    logger.info({ card_number, cvc: '123', secret }, 'top level');
    logger.info({ card: { number: card_number, cvv: '123', exp_month: 12 }, endpoint: { signing_secret: secret } }, 'one level');
    logger.info({ request: { body: { card_brand: 'visa', pan: card_number, password: 'pw', token: secret } } }, 'two levels');
    logger.info({ operator: { operatorKey: secret, api_key: secret } }, 'camel case and api keys');
    const text = output.text();
    expect(text).not.toContain(card_number);
    expect(text).not.toContain(secret);
    const [top, one, two] = output.lines();
    expect(top).toMatchObject({ card_number: '[redacted]', cvc: '[redacted]', secret: '[redacted]' });
    expect(one).toMatchObject({ card: { number: '[redacted]', cvv: '[redacted]', exp_month: 12 }, endpoint: { signing_secret: '[redacted]' } });
    expect(two).toMatchObject({ request: { body: { card_brand: 'visa', pan: '[redacted]', password: '[redacted]', token: '[redacted]' } } });
  });

  it('redacts authorization and cookie headers', () => {
    const output = capture();
    const logger = createLogger({ level: 'info', name: 'gateway', destination: output.stream });
    logger.info({ req: { headers: { authorization: `Bearer ${secret}`, cookie: `session=${secret}`, accept: 'application/json' } } }, 'incoming');
    logger.info({ headers: { Authorization: 'x', authorization: `Basic ${secret}` } }, 'top-level headers');
    expect(output.text()).not.toContain(secret);
    expect(output.lines()[0]).toMatchObject({ req: { headers: { authorization: '[redacted]', cookie: '[redacted]', accept: 'application/json' } } });
  });

  it('redacts child bindings too', () => {
    const output = capture();
    const logger = createLogger({ level: 'info', name: 'webhooks', destination: output.stream });
    logger.child({ endpoint_id: 'we_1', signing_secret: secret }).info('delivering');
    expect(output.text()).not.toContain(secret);
    expect(output.lines()[0]).toMatchObject({ endpoint_id: 'we_1', signing_secret: '[redacted]' });
  });

  it('adds trace_id and span_id from the hook when there is one', () => {
    const output = capture();
    let fields: { trace_id: string; span_id: string } | undefined = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' };
    const logger = createLogger({ level: 'info', name: 'ledger', destination: output.stream, traceFields: () => fields });
    logger.info('traced');
    fields = undefined;
    logger.info('untraced');
    const [traced, untraced] = output.lines();
    expect(traced).toMatchObject({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' });
    expect(untraced).not.toHaveProperty('trace_id');
    expect(untraced).not.toHaveProperty('span_id');
  });
});

// A merchant endpoint for tests: receives a provider's notifications over HTTP, hands the raw
// body and lower-cased headers to a connector's parseNotification, and answers the way the
// gateway does (the acknowledgement, or 400 when the notification is refused).
import { fastify } from 'fastify';
import type { NotificationParse } from '../connector';

export interface NotificationReceiver {
  readonly url: string;
  /** Every parse result, oldest first. */
  readonly received: NotificationParse[];
  /** Sets the parser; the connector is usually built after the receiver, with its URL. */
  use(parse: (headers: Readonly<Record<string, string | undefined>>, raw_body: string) => Promise<NotificationParse>): void;
  close(): Promise<void>;
}

export async function startNotificationReceiver(): Promise<NotificationReceiver> {
  const app = fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    done(null, body);
  });
  const received: NotificationParse[] = [];
  let parser: ((headers: Readonly<Record<string, string | undefined>>, raw_body: string) => Promise<NotificationParse>) | undefined;
  app.post('/notify', async (request, reply) => {
    if (parser === undefined) return reply.code(503).send('not ready');
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const parsed = await parser(headers, typeof request.body === 'string' ? request.body : '');
    received.push(parsed);
    if (!parsed.ok) return reply.code(400).send('refused');
    return reply.code(parsed.acknowledgement.status).type(parsed.acknowledgement.content_type).send(parsed.acknowledgement.body);
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `${address}/notify`,
    received,
    use: (parse) => {
      parser = parse;
    },
    close: async () => {
      await app.close();
    },
  };
}

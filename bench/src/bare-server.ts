// A bare Fastify server answering `{}` to POST /: the API benchmark's yardstick.
import { fastify } from 'fastify';

const app = fastify();
app.post('/', () => ({}));
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
console.log(`bare server at ${address}`);

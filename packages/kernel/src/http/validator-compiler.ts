import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

// Fastify's default Ajv coerces types everywhere and silently drops unknown properties. In a
// body that would accept "100" or "1.0" for an integer amount and ignore a misspelt field, so
// bodies are validated strictly. The query string, URL parameters and headers arrive as text,
// so they keep coercion; none of them drops unknown properties.
const body_options = { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } as const;
const text_options = { coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false } as const;

export function strictSchemaController(): NonNullable<FastifyServerOptions['schemaController']> {
  const buildFromPool = AjvCompiler();
  return {
    compilersFactory: {
      buildValidator(externalSchemas) {
        const compileBody = buildFromPool(externalSchemas, { customOptions: body_options });
        const compileText = buildFromPool(externalSchemas, { customOptions: text_options });
        return (definition) => (definition.httpPart === 'body' ? compileBody(definition) : compileText(definition));
      },
    },
  };
}

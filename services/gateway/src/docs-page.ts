// The readable API reference at /docs: rendered on the server from the OpenAPI document, so it
// needs no script, no asset and no network, and can never disagree with the document.

interface OpenApiOperation {
  readonly summary?: string;
  readonly tags?: readonly string[];
  readonly parameters?: readonly { readonly name: string; readonly in: string; readonly required?: boolean; readonly schema?: unknown }[];
  readonly requestBody?: { readonly content?: Record<string, { readonly schema?: unknown }> };
  readonly responses?: Record<string, { readonly description?: string; readonly content?: Record<string, { readonly schema?: unknown }> }>;
}

interface OpenApiDocument {
  readonly info: { readonly title: string; readonly description?: string };
  readonly paths?: Record<string, Record<string, OpenApiOperation>>;
  readonly components?: { readonly schemas?: Record<string, unknown> };
}

const http_methods = ['get', 'post', 'patch', 'put', 'delete'];

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function json(value: unknown): string {
  return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
}

const guide = `
<h2 id="conventions">Conventions</h2>
<ul>
<li><b>Authentication.</b> Send <code>Authorization: Bearer sk_test_...</code> (test mode) or <code>sk_live_...</code> (live mode). Test and live data never mix. Publishable keys (<code>pk_...</code>) may only create card tokens. Operator routes take the operator key.</li>
<li><b>Request signing.</b> Header <code>Paygrid-Signature: t=&lt;unix seconds&gt;,n=&lt;nonce&gt;,v1=&lt;hex&gt;</code>, where v1 is HMAC-SHA256, keyed with your signing secret, over <code>t + "." + n + "." + METHOD + "." + path-with-query + "." + hex(sha256(raw body))</code>. A request that carries the header is always verified. Timestamps more than 300 seconds away are refused, and so is a nonce seen before. A merchant may make signing mandatory with <code>PATCH /v1/account {"signing_required": true}</code>. The SDK (<code>@paygrid/sdk</code>) signs for you.</li>
<li><b>Idempotency.</b> Every POST and PATCH takes <code>Idempotency-Key</code> (up to 255 characters). The first response is kept for 24 hours; the same request with the same key gets it again with <code>Idempotent-Replayed: true</code>. The same key with a different request, or while the first is still running, gets a 409 <code>idempotency_error</code>. Requests that fail validation are not stored.</li>
<li><b>Amounts</b> are JSON integers in the minor unit of the currency (cents for <code>usd</code>). Currencies are lower-case ISO 4217 codes. Numbers with a fraction or exponent are refused.</li>
<li><b>Errors</b> have one shape: <code>{"error": {"type", "code", "message", "param"}}</code>; each <code>type</code> has one HTTP status.</li>
<li><b>Lists</b> are newest first: <code>limit</code> (1 to 100, default 10), <code>starting_after</code> and <code>ending_before</code> take an object id; the answer is <code>{"object": "list", "data", "has_more"}</code>.</li>
<li><b>Rate limits</b> apply per API key (a token bucket); over the limit you get 429 with <code>Retry-After</code>.</li>
</ul>`;

export function renderDocsPage(document: unknown): string {
  const openapi = document as OpenApiDocument;
  const sections = new Map<string, string[]>();
  for (const [path, operations] of Object.entries(openapi.paths ?? {})) {
    for (const method of http_methods) {
      const operation = operations[method];
      if (operation === undefined) continue;
      const tag = operation.tags?.[0] ?? 'Other';
      const parts = [`<h3><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h3>`, `<p>${escapeHtml(operation.summary ?? '')}</p>`];
      if (operation.parameters !== undefined && operation.parameters.length > 0) {
        parts.push('<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>');
        for (const parameter of operation.parameters) {
          parts.push(`<tr><td><code>${escapeHtml(parameter.name)}</code></td><td>${parameter.in}</td><td>${parameter.required === true ? 'yes' : 'no'}</td><td><code>${escapeHtml(JSON.stringify(parameter.schema ?? {}))}</code></td></tr>`);
        }
        parts.push('</table>');
      }
      const body = operation.requestBody?.content?.['application/json']?.schema;
      if (body !== undefined) parts.push('<h4>Request body</h4>', json(body));
      const ok = operation.responses?.['200']?.content?.['application/json']?.schema;
      if (ok !== undefined) parts.push('<h4>Response</h4>', json(ok));
      const list = sections.get(tag) ?? [];
      list.push(parts.join('\n'));
      sections.set(tag, list);
    }
  }
  const toc = [...sections.keys()].map((tag) => `<li><a href="#${encodeURIComponent(tag)}">${escapeHtml(tag)}</a></li>`).join('');
  const body = [...sections.entries()].map(([tag, operations]) => `<h2 id="${encodeURIComponent(tag)}">${escapeHtml(tag)}</h2>\n${operations.join('\n')}`).join('\n');
  const schemas = Object.entries(openapi.components?.schemas ?? {})
    .map(([name, schema]) => `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3>${json(schema)}`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(openapi.info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}pre{background:#f5f5f5;padding:.75rem;overflow:auto;font-size:.85rem}code{background:#f5f5f5;padding:0 .2rem}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}h3{margin-top:2rem}</style>
</head><body>
<h1>${escapeHtml(openapi.info.title)}</h1>
<p>${escapeHtml(openapi.info.description ?? '')} The machine-readable document is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
<ul><li><a href="#conventions">Conventions</a></li>${toc}<li><a href="#schemas">Objects</a></li></ul>
${guide}
${body}
<h2 id="schemas">Objects</h2>
${schemas}
</body></html>
`;
}

// The operator's table of who calls whom (docs/operations.md, "Distributed mode") is what the
// network policies and each process's `<SERVICE>_SERVICE_URLS` are written from, so it must say
// what `service_dependencies` says.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { service_dependencies, type ServiceName } from './platform';

const operations_doc = join(import.meta.dirname, '..', '..', '..', 'docs', 'operations.md');

describe('the distributed-mode table in docs/operations.md', () => {
  it('names, for each service, exactly the services it calls', () => {
    const rows = new Map<string, string>();
    for (const match of readFileSync(operations_doc, 'utf8').matchAll(/^\| `([a-z]+)` \| ([^|]+) \| `[A-Z_]+` \|/gm)) rows.set(match[1]!, match[2]!.trim());
    for (const [service, calls] of Object.entries(service_dependencies) as [ServiceName, readonly ServiceName[]][]) {
      if (service === 'gateway') continue; // Its row says "every other service", and it is public.
      const documented = rows.get(service);
      expect(documented, `a row for ${service}`).toBeDefined();
      const named = documented === 'nothing' ? [] : documented!.split(',').map((each) => each.trim());
      expect(named.sort(), service).toEqual([...calls].sort());
    }
    expect(service_dependencies.gateway.length).toBe(Object.keys(service_dependencies).length - 1);
  });
});

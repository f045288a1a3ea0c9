import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from './testing';

let directory: TemporaryDirectory;

beforeEach(async () => {
  directory = await temporaryDirectory();
});

afterEach(async () => {
  await directory.remove();
});

/** Runs `script` in a new node process with `flags`; resolves to what it printed and its exit code. */
async function runNode(flags: readonly string[], script: string): Promise<{ output: string; code: number | null }> {
  const child = spawn(process.execPath, [...flags, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  return { output, code };
}

describe('startWorkerFile', () => {
  it('starts a worker in a process whose own flags a worker would refuse', async () => {
    const worker_file = join(directory.path, 'worker.mjs');
    await writeFile(worker_file, "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage('worker answered');\n");
    const script = join(directory.path, 'main.mts');
    const module_url = pathToFileURL(join(import.meta.dirname, 'worker-thread.ts')).href;
    await writeFile(
      script,
      `import { startWorkerFile } from ${JSON.stringify(module_url)};
const worker = startWorkerFile(new URL(${JSON.stringify(pathToFileURL(worker_file).href)}));
worker.once('message', (message) => { console.log(message); void worker.terminate(); });
worker.once('error', (error) => { console.log('worker failed: ' + error.message); process.exitCode = 1; });
`,
    );
    // --trace-gc is accepted by a process and refused by a worker ("invalid execArgv flags").
    const { output, code } = await runNode(['--trace-gc', '--import', 'tsx'], script);
    expect(output).toContain('worker answered');
    expect(code).toBe(0);
  });
});

// The container image (deploy/docker/Dockerfile), checked without a container engine: parsed with
// dockerfile-ast, held to what the image promises (stages, a non-root user, production
// dependencies only, every workspace installed), and its HEALTHCHECK command run, as Docker would
// run it, against a real service process.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/platform';
import { repository_root, startProbeTarget, type ProbeTarget } from './support/deploy';

const dockerfile_path = join(repository_root, 'deploy/docker/Dockerfile');
const dockerfile = DockerfileParser.parse(readFileSync(dockerfile_path, 'utf8'));

interface Stage {
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: readonly Instruction[];
}

/** The instructions of each stage, in order (before the first FROM are only ARGs). */
function stages(): Stage[] {
  const result: { name: string | undefined; base: string; instructions: Instruction[] }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const argument_values = instruction.getArguments().map((argument) => argument.getValue());
      const as_index = argument_values.findIndex((value) => value.toUpperCase() === 'AS');
      result.push({ name: as_index === -1 ? undefined : argument_values[as_index + 1], base: argument_values[0] ?? '', instructions: [] });
      continue;
    }
    result.at(-1)?.instructions.push(instruction);
  }
  return result;
}

function finalStage(): Stage {
  const last = stages().at(-1);
  if (last === undefined) throw new Error('the Dockerfile has no FROM');
  return last;
}

function withKeyword(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);
}

/** An exec-form instruction's argument list (`CMD ["node", …]`), from its raw text. */
function execForm(text: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((item): item is string => typeof item === 'string')) throw new Error(`not an exec form: ${text}`);
  return parsed;
}

/** The HEALTHCHECK's command, in exec form (a shell form would need a shell the image need not have). */
function healthcheckCommand(): string[] {
  const [healthcheck] = withKeyword(finalStage(), 'HEALTHCHECK');
  if (healthcheck === undefined) throw new Error('the final stage has no HEALTHCHECK');
  const content = healthcheck.getArgumentsContent() ?? '';
  const command_start = content.indexOf('CMD');
  expect(command_start, 'HEALTHCHECK CMD …').toBeGreaterThanOrEqual(0);
  return execForm(content.slice(command_start + 'CMD'.length).trim());
}

function runHealthcheck(port: number): Promise<number | null> {
  const [program, ...args] = healthcheckCommand();
  expect(program).toBe('node');
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 20_000 }, (error) => {
      resolve(error === null ? 0 : typeof error.code === 'number' ? error.code : null);
    });
  });
}

/** The workspace folders package.json names, expanded as npm expands them (one level of `*`). */
function workspaceFolders(): string[] {
  const manifest = JSON.parse(readFileSync(join(repository_root, 'package.json'), 'utf8')) as { workspaces: string[] };
  return manifest.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [pattern];
    const parent = pattern.slice(0, -2);
    return readdirSync(join(repository_root, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(repository_root, parent, entry.name, 'package.json')))
      .map((entry) => `${parent}/${entry.name}`);
  });
}

describe('the container image (deploy/docker/Dockerfile)', () => {
  let target: ProbeTarget;
  beforeAll(async () => {
    target = await startProbeTarget();
  }, 60_000);
  afterAll(async () => {
    await target.close();
  });

  it('is built in stages: dependencies in one, and a final stage that only copies them', () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    const final = finalStage();
    const copies_from = withKeyword(final, 'COPY').flatMap((instruction) => {
      const from = (instruction as Copy).getFromFlag?.()?.getValue();
      return from === undefined || from === null ? [] : [from];
    });
    expect(copies_from.length, 'the final stage copies from an earlier stage').toBeGreaterThan(0);
    for (const from of copies_from) expect(all.slice(0, -1).map((stage) => stage.name)).toContain(from);
    // The compilers that may build better-sqlite3 stay behind in the stage that needed them.
    const final_runs = withKeyword(final, 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '');
    for (const run of final_runs) expect(run).not.toMatch(/\b(g\+\+|make|python3|npm (ci|install))\b/);
  });

  it('installs production dependencies only, for every workspace, and checks the native module loads', () => {
    const runs = stages().flatMap((stage) => withKeyword(stage, 'RUN').map((instruction) => instruction.getArgumentsContent() ?? ''));
    const installs = runs.filter((run) => /\bnpm (ci|install|i)\b/.test(run));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) {
      expect(install).toMatch(/\bnpm ci\b/);
      expect(install).toContain('--omit=dev');
    }
    expect(installs.join('\n')).toContain("require('better-sqlite3')");
    // A workspace whose manifest is not copied before `npm ci` has no dependencies in the image.
    const install_stage = stages().find((stage) => withKeyword(stage, 'RUN').some((instruction) => /\bnpm ci\b/.test(instruction.getArgumentsContent() ?? '')));
    const copied = (install_stage?.instructions ?? [])
      .filter((instruction) => instruction.getKeyword() === 'COPY')
      .flatMap((instruction) => instruction.getArguments().slice(0, -1).map((argument) => argument.getValue()));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json']));
    for (const folder of workspaceFolders()) expect(copied, `${folder}/package.json is copied before npm ci`).toContain(`${folder}/package.json`);
    // What runs in production must be a production dependency: the CLI runs TypeScript through tsx.
    const cli = JSON.parse(readFileSync(join(repository_root, 'apps/cli/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(readFileSync(join(repository_root, 'apps/cli/bin/paygrid.js'), 'utf8')).toContain("from 'tsx/esm/api'");
    expect(Object.keys(cli.dependencies)).toContain('tsx');
  });

  it('runs as a numeric non-root user, the paygrid command as its entry point', () => {
    const final = finalStage();
    const users = withKeyword(final, 'USER').map((instruction) => instruction.getArgumentsContent() ?? '');
    const user = users.at(-1);
    expect(user, 'the final stage sets USER').toBeDefined();
    const [uid, gid] = (user ?? '').split(':');
    expect(uid).toMatch(/^[0-9]+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid ?? uid)).toBeGreaterThan(0);
    const entrypoint = execForm(withKeyword(final, 'ENTRYPOINT').at(-1)?.getArgumentsContent() ?? '[]');
    expect(entrypoint).toEqual(['node', 'apps/cli/bin/paygrid.js']);
    expect(execForm(withKeyword(final, 'CMD').at(-1)?.getArgumentsContent() ?? '[]')).toEqual(['start']);
    // The sources the final stage copies from the build context exist, and tsconfig.json is among
    // them: tsx follows its verbatimModuleSyntax at run time.
    const context_sources = withKeyword(final, 'COPY')
      .filter((instruction) => (instruction as Copy).getFromFlag() === null)
      .flatMap((instruction) => instruction.getArguments().slice(0, -1).map((argument) => argument.getValue()));
    expect(context_sources).toContain('tsconfig.json');
    for (const source of context_sources) expect(existsSync(join(repository_root, source)), source).toBe(true);
  });

  it('has a HEALTHCHECK that passes against a running service and fails when nothing answers', async () => {
    const command = healthcheckCommand();
    expect(command.join(' ')).toMatch(/\/(readyz|healthz)\b/);
    expect(await runHealthcheck(target.port)).toBe(0);
    expect(await runHealthcheck(await freePort())).toBe(1);
  }, 60_000);

  it('leaves secrets, tests, local data and dependencies out of the build context (.dockerignore)', () => {
    const ignored = readFileSync(join(repository_root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '.git', 'data', '**/.env', '**/*.kek', '**/*.key', 'test', '**/*.test.ts']));
  });
});

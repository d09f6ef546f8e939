/**
 * Fails when an RPC of any gRPC service in proto/ has no contract test: every service definition
 * the generated code exports must have, for each method, a `describe('<Service>/<Method>'` block in
 * a test/contract/*.contract.test.ts file.
 */
import * as fs from 'fs';
import * as path from 'path';

const generated = path.join(__dirname, '../../services/lib/generated');

function generatedModules(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return generatedModules(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

function rpcPaths(): string[] {
  const paths: string[] = [];
  for (const file of generatedModules(generated)) {
    const mod = require(file) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      if (!value || typeof value !== 'object') continue;
      for (const method of Object.values(value as Record<string, unknown>)) {
        const p = (method as { path?: unknown })?.path;
        if (typeof p === 'string' && p.startsWith('/')) paths.push(p);
      }
    }
  }
  return [...new Set(paths)].sort();
}

test('contract coverage - every RPC in proto/ has a contract test', () => {
  const sources = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.contract.test.ts'))
    .map((f) => fs.readFileSync(path.join(__dirname, f), 'utf8'))
    .join('\n');
  const paths = rpcPaths();
  expect(paths.length).toBeGreaterThan(0);
  const missing = paths.filter((p) => {
    const [, fullService, method] = p.split('/');
    const service = fullService.split('.').pop();
    return !sources.includes(`describe('${service}/${method}'`);
  });
  expect(missing).toEqual([]);
});

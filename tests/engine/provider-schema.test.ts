// The stacks are typed by the cdktf bindings of kreuzwerker/docker 3.6.2 and hashicorp/random
// 3.7.2, and deployed with the versions stacks/deploy-tools.ts pins. This checks every attribute
// and block the synthesized stacks write against the schema of the providers actually built.
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { EXAMPLE, ROOT, synthToDisk, tempDir } from '../helpers.js';
import { defaultToolsDir, toolSet } from '../../scripts/lib/tools.js';
import { writeDeployToolLock } from '../../scripts/lib/deploy.js';
import { PROVIDER_PINS } from '../../stacks/deploy-tools.js';

interface Block { attributes?: Record<string, unknown>; block_types?: Record<string, { block: Block }> }
let schemas: Record<string, Block> = {};

beforeAll(() => {
  const tools = toolSet(defaultToolsDir());
  const dir = tempDir('socle-schema-');
  const required = Object.fromEntries(PROVIDER_PINS.map((p) => [p.name, { source: p.source, version: p.version }]));
  writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({ terraform: { required_providers: required } }));
  writeDeployToolLock(dir, 'tofu');
  const env = { ...process.env, TF_CLI_CONFIG_FILE: tools.cliConfig, CHECKPOINT_DISABLE: '1' };
  const init = spawnSync(tools.tofu, [`-chdir=${dir}`, 'init', '-input=false', '-lockfile=readonly', '-no-color'], { env, encoding: 'utf8' });
  expect(init.status, init.stdout + init.stderr).toBe(0);
  const schema = spawnSync(tools.tofu, [`-chdir=${dir}`, 'providers', 'schema', '-json'], { env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  expect(schema.status, schema.stderr).toBe(0);
  for (const provider of Object.values<any>(JSON.parse(schema.stdout).provider_schemas)) {
    for (const [type, s] of Object.entries<any>(provider.resource_schemas)) schemas[type] = s.block;
    schemas[`provider:${Object.keys(provider.resource_schemas)[0].split('_')[0]}`] = provider.provider.block;
  }
}, 120_000);

/** Keys of a synthesized object the schema block does not know, as dotted paths. */
function unknownKeys(value: any, block: Block, path: string): string[] {
  const out: string[] = [];
  for (const [key, v] of Object.entries<any>(value)) {
    if (['//', 'lifecycle', 'depends_on', 'provider', 'count', 'for_each'].includes(key)) continue;
    if (block.attributes && key in block.attributes) continue;
    const nested = block.block_types?.[key]?.block;
    if (!nested) {
      out.push(`${path}.${key}`);
      continue;
    }
    for (const [i, item] of (Array.isArray(v) ? v : [v]).entries()) out.push(...unknownKeys(item, nested, `${path}.${key}[${i}]`));
  }
  return out;
}

describe('the providers built from Go modules', () => {
  it('know every attribute and block the synthesized stacks write', () => {
    const configs = [EXAMPLE, join(ROOT, 'examples/ville-exemple-multisite.yaml')];
    let checked = 0;
    for (const config of configs) {
      for (const stack of synthToDisk(config).stacks) {
        for (const [type, resources] of Object.entries<any>(stack.json.resource)) {
          expect(schemas[type], `${type} is not a resource of the built providers`).toBeDefined();
          for (const [id, r] of Object.entries<any>(resources)) {
            expect(unknownKeys(r, schemas[type], `${stack.name}: ${type}.${id}`)).toEqual([]);
            checked++;
          }
        }
        for (const [name, [provider]] of Object.entries<any>(stack.json.provider)) expect(unknownKeys(provider, schemas[`provider:${name}`], `${stack.name}: provider ${name}`)).toEqual([]);
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('catch an attribute the built provider does not have (the check can fail)', () => {
    expect(unknownKeys({ name: 'x', check_duplicate: true }, schemas.docker_network, 'docker_network.x')).toEqual(['docker_network.x.check_duplicate']);
  });
});

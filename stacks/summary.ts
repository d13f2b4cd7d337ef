import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LABEL } from '../core/labels.js';

/**
 * A readable inventory built from the synthesized JSON itself (not from the code that wrote it),
 * so what the summary shows is what Terraform will apply.
 */
export interface StackSummary {
  readonly stack: string;
  readonly dockerHost: string;
  readonly commune: string;
  readonly host: string;
  readonly services: ReadonlyArray<{
    readonly service: string;
    readonly containers: ReadonlyArray<{ readonly name: string; readonly image: string; readonly ports: readonly string[]; readonly networks: readonly string[]; readonly memoryMiB: number }>;
  }>;
  readonly networks: ReadonlyArray<{ readonly name: string; readonly internal: boolean; readonly tier: string }>;
  readonly volumes: ReadonlyArray<{ readonly name: string; readonly service: string; readonly category: string; readonly personalData: boolean; readonly retention: string; readonly backup: boolean }>;
  readonly variables: readonly string[];
}

const labels = (raw: any): Record<string, string> => Array.isArray(raw) ? Object.fromEntries(raw.map((l: any) => [l.label, l.value])) : raw ?? {};

/** Replaces `${docker_x.id.attr}` references by the referenced resource's literal attribute. */
function dereference(value: string, resources: Record<string, Record<string, any>>): string {
  return value.replace(/\$\{(docker_\w+)\.([\w-]+)\.(\w+)\}/g, (whole, type, id, attr) => {
    const target = resources[type]?.[id];
    if (!target) return whole;
    return String(attr === 'image_id' ? target.name : target[attr] ?? whole);
  });
}

function summarizeStack(stack: string, json: any): StackSummary {
  const resources = json.resource ?? {};
  const provider = (json.provider?.docker ?? [])[0] ?? {};
  const containers = Object.values<any>(resources.docker_container ?? {});
  const byService = new Map<string, StackSummary['services'][number]['containers'][number][]>();
  let commune = '';
  let host = '';
  for (const c of containers) {
    const l = labels(c.labels);
    commune ||= l[LABEL.commune] ?? '';
    host ||= l[LABEL.host] ?? '';
    const list = byService.get(l[LABEL.service] ?? '?') ?? [];
    list.push({
      name: c.name,
      image: dereference(c.image, resources),
      ports: (c.ports ?? []).map((p: any) => `${p.ip ?? '0.0.0.0'}:${p.external}->${p.internal}/${p.protocol ?? 'tcp'}`),
      networks: c.network_mode === 'none' ? ['none'] : (c.networks_advanced ?? []).map((n: any) => dereference(n.name, resources)),
      memoryMiB: c.memory,
    });
    byService.set(l[LABEL.service] ?? '?', list);
  }
  return {
    stack,
    dockerHost: provider.host ?? '?',
    commune,
    host,
    services: [...byService].map(([service, cs]) => ({ service, containers: cs })),
    networks: Object.values<any>(resources.docker_network ?? {}).map((n) => ({ name: n.name, internal: n.internal === true, tier: labels(n.labels)[LABEL.tier] ?? '?' })),
    volumes: Object.values<any>(resources.docker_volume ?? {}).map((v) => {
      const l = labels(v.labels);
      return { name: v.name, service: l[LABEL.service] ?? '?', category: l[LABEL.dataCategory] ?? '?', personalData: l[LABEL.personalData] === 'true', retention: l[LABEL.retention] ?? '?', backup: l[LABEL.backup] === 'true' };
    }),
    variables: Object.keys(json.variable ?? {}),
  };
}

/** Summaries of every stack under `outdir/stacks`. */
export function readSummary(outdir: string): StackSummary[] {
  const dir = join(outdir, 'stacks');
  return readdirSync(dir).sort().map((stack) => summarizeStack(stack, JSON.parse(readFileSync(join(dir, stack, 'cdk.tf.json'), 'utf8'))));
}

export function formatSummary(summaries: readonly StackSummary[]): string {
  const out: string[] = [];
  for (const s of summaries) {
    out.push(`stack ${s.stack}  (commune ${s.commune || '?'}, host ${s.host || '?'}, docker ${s.dockerHost})`);
    for (const svc of s.services) {
      out.push(`  ${svc.service}`);
      for (const c of svc.containers) {
        out.push(`    ${c.name}  ${c.image}  ${c.memoryMiB} MiB`);
        if (c.ports.length) out.push(`      publishes ${c.ports.join(', ')}`);
        out.push(`      networks ${c.networks.join(', ') || '-'}`);
      }
    }
    out.push('  networks');
    for (const n of s.networks) out.push(`    ${n.name}  ${n.internal ? 'internal (no route out)' : 'with a route out'}  [${n.tier}]`);
    const personal = s.volumes.filter((v) => v.personalData);
    out.push(`  volumes (${personal.length} with personal data)`);
    for (const v of s.volumes) out.push(`    ${v.name}  ${v.personalData ? 'PERSONAL DATA' : v.category}, kept ${v.retention}${v.backup ? ', backed up' : ''}`);
    if (s.variables.length) out.push(`  secrets to provide at deploy (sensitive variables): ${s.variables.join(', ')}`);
  }
  return out.join('\n');
}

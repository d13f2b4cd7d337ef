// One source for each default: the city file's defaults are the schema's (the loader applies
// them), and a construct used on its own defaults to the same values. Each construct is
// synthesized once without the settings and once with the schema's defaults: the same output.
import { describe, expect, it } from 'vitest';
import { citySchema } from '../stacks/config/load.js';
import type { HostStack } from '../stacks/host-stack.js';
import { ReverseProxy } from '../services/reverse-proxy/index.js';
import { LimeSurvey } from '../services/limesurvey/index.js';
import { Matomo } from '../services/matomo/index.js';
import { MailGateway } from '../services/mail-gateway/index.js';
import { Consultation } from '../services/consultation/index.js';
import { synthInHost } from './helpers.js';

/** The schema's default of a field, by its path in the city file. */
function schemaDefault(path: string): unknown {
  let node: any = citySchema;
  for (const key of path.split('.')) {
    node = node.properties[key];
    if (node.$ref) node = { ...citySchema.definitions[node.$ref.split('/').pop()], ...node };
  }
  if (node.default === undefined) throw new Error(`${path} has no default in the schema`);
  return node.default;
}

const defaults = (fields: Record<string, string>) => Object.fromEntries(Object.entries(fields).map(([prop, path]) => [prop, schemaDefault(path)]));
const gateway = (s: HostStack, extra = {}) => new MailGateway(s, 'mail', { hostname: 'zimbra.ville-exemple.fr', address: '10.0.0.25', user: 'u@ville-exemple.fr', from: 'n@ville-exemple.fr', password: 'x', ...extra });
const frontend = (s: HostStack) => ({ kind: 'network' as const, network: s.network(s, { name: 'frontend', tier: 'frontend' }) });
const notice = {
  communeName: 'V', legalEntity: 'Commune de V', address: { street: '1 rue', postcode: '99999', city: 'V' }, phone: '+33 1', email: 'contact@ville-exemple.fr',
  publicationDirector: 'Le maire', dpo: { name: 'DPO', email: 'dpo@ville-exemple.fr' }, hosts: [],
};

const CASES: Record<string, { fields: Record<string, string>; build: (s: HostStack, settings: Record<string, unknown>) => void }> = {
  ReverseProxy: {
    fields: { bindAddress: 'services.proxy.bindAddress', httpPort: 'services.proxy.httpPort', httpsPort: 'services.proxy.httpsPort', accessLogRetentionDays: 'services.proxy.accessLogRetentionDays', accessLogMaxMiB: 'services.proxy.accessLogMaxMiB', memoryMiB: 'services.proxy.memoryMiB' },
    build: (s, settings) => new ReverseProxy(s, 'proxy', { tls: { mode: 'files', directory: '/etc/socle/tls' }, legalNotice: notice, ...settings }),
  },
  MailGateway: {
    fields: { port: 'mail.relay.port', security: 'mail.relay.security' },
    build: (s, settings) => gateway(s, settings),
  },
  LimeSurvey: {
    fields: { memoryMiB: 'services.limesurvey.memoryMiB' },
    build: (s, settings) => new LimeSurvey(s, 'limesurvey', { hostname: 'e.ville-exemple.fr', smtp: gateway(s).smtp, exposure: frontend(s), ...settings }),
  },
  Matomo: {
    fields: { memoryMiB: 'services.matomo.memoryMiB', archiveIntervalMinutes: 'services.matomo.archiveIntervalMinutes', rawDataRetentionDays: 'services.matomo.rawDataRetentionDays' },
    build: (s, settings) => new Matomo(s, 'matomo', { hostname: 'm.ville-exemple.fr', communeName: 'Ville', measuredHostnames: ['e.ville-exemple.fr'], smtp: gateway(s).smtp, exposure: frontend(s), ...settings }),
  },
  Consultation: {
    fields: { memoryMiB: 'services.consultation.memoryMiB', workerMemoryMiB: 'services.consultation.workerMemoryMiB', preset: 'services.consultation.preset' },
    build: (s, settings) => new Consultation(s, 'consultation', { hostname: 'c.ville-exemple.fr', smtp: gateway(s).smtp, exposure: frontend(s), ...settings }),
  },
};

describe('construct defaults', () => {
  it.each(Object.keys(CASES))('%s defaults to the city file schema\'s values', (name) => {
    const { fields, build } = CASES[name];
    const alone = synthInHost((s) => build(s, {}));
    const fromSchema = synthInHost((s) => build(s, defaults(fields)));
    expect(alone).toEqual(fromSchema);
    // And the comparison can fail: another value changes the output.
    const [prop, path] = Object.entries(fields)[0];
    const other = typeof schemaDefault(path) === 'number' ? (schemaDefault(path) as number) + 1 : prop === 'security' ? 'tls' : 'x';
    expect(synthInHost((s) => build(s, { [prop]: other }))).not.toEqual(alone);
  });
});

import type { IAspect } from 'cdktf';
import { Annotations, DefaultTokenResolver, StringConcat, TerraformResource, TerraformStack, Tokenization } from 'cdktf';
import type { IConstruct } from 'constructs';
import { HostStack } from '../host-stack.js';
import {
  containerHardened, containerHasHealthcheck, mailSettingsMatchRelay, containerHasMemoryLimit, containerHasProcessLimit, imageFromCityRegistry, noSecretLiteral,
  noThirdPartyHost, portsOnlyOnProxy, privateNetworksInternal, type ResourceView, type Rule,
} from './rules.js';
import { sendingDomain } from '../config/defaults.js';
import { findSuppression } from '../../core/suppressions.js';

export type RuleLevel = 'error' | 'warning';

export interface RuleBinding {
  readonly id: string;
  readonly level: RuleLevel;
  readonly rule: Rule;
  /** What is wrong, in one sentence. */
  readonly info: string;
  /** Why the rule exists. */
  readonly explanation: string;
  /** What to do about it. */
  readonly fix: string;
}

/** The pack: ids are never reused; docs/policy-rules.md is generated from this list (npm run docs). */
export const SOCLE_RULES: readonly RuleBinding[] = [
  {
    id: 'Socle-IMG1', level: 'error', rule: imageFromCityRegistry,
    info: 'The image does not come from the city registry.',
    explanation: 'A deploy must not download code from Docker Hub, GHCR or any third party: the city runs what it has mirrored and can audit.',
    fix: 'Reference the image through the image catalog (services/common/images.ts) so it resolves to <registry>/<namespace>/<name>; mirror upstream images with scripts/mirror-images.',
  },
  {
    id: 'Socle-TP1', level: 'error', rule: noThirdPartyHost,
    info: 'The resource is configured to reach a third-party host.',
    explanation: 'CDNs, analytics and tag managers, web fonts and transactional mail relays put a company between citizens and their data, as the citizen audit found.',
    fix: 'Replace the host with a service the city runs (its Zimbra, its Matomo, assets served by the app itself), or remove the setting.',
  },
  {
    id: 'Socle-NET1', level: 'error', rule: portsOnlyOnProxy,
    info: 'A container other than the reverse proxy publishes ports.',
    explanation: 'The proxy is the single public entry point: TLS, security headers, access-log retention and the legal notice all live there.',
    fix: 'Remove the published ports and route the service through ReverseProxy.addRoute().',
  },
  {
    id: 'Socle-NET2', level: 'error', rule: privateNetworksInternal,
    info: 'A data-tier, front-end or mail network is not internal.',
    explanation: 'Databases and app internals must have no route out of the host: a compromised app cannot then send data anywhere.',
    fix: 'Create the network with internal: true (platform.network with tier data, frontend or mail does).',
  },
  {
    id: 'Socle-CT1', level: 'error', rule: containerHasHealthcheck,
    info: 'The container has no healthcheck.',
    explanation: 'Without a healthcheck the engine cannot tell a hung service from a working one, and deploys cannot wait for readiness.',
    fix: 'Give the container spec a healthcheck command that exercises the service.',
  },
  {
    id: 'Socle-CT2', level: 'error', rule: containerHasMemoryLimit,
    info: 'The container has no memory limit.',
    explanation: 'One runaway service would starve the databases and the proxy of the same host.',
    fix: 'Set memoryMiB in the container spec (or the service setting in the city file).',
  },
  {
    id: 'Socle-CT3', level: 'error', rule: containerHardened,
    info: 'The container misses part of the baseline hardening.',
    explanation: 'Every container drops all capabilities, cannot gain privileges, restarts on failure and keeps bounded logs.',
    fix: 'Declare the container through the platform (HostStack.container), which applies the baseline; add back only the capability the software needs with capAdd.',
  },
  {
    id: 'Socle-CT4', level: 'error', rule: containerHasProcessLimit,
    info: 'The container has no process-count limit.',
    explanation: 'One fork bomb in one container would exhaust the host\'s process table and stop every service on it.',
    fix: 'Declare the container through the platform (HostStack.container), which sets ulimit nproc; raise maxProcesses in the container spec if the software needs more.',
  },
  {
    id: 'Socle-SEC1', level: 'error', rule: noSecretLiteral,
    info: 'A secret-looking value is written literally.',
    explanation: 'Synthesized output goes to git and to logs: secrets must only appear as references to sensitive variables or generated values.',
    fix: 'Use platform.generatedSecret() or a secret reference in the city file ({ env: NAME } or { file: /path }).',
  },
  {
    id: 'Socle-MAIL1', level: 'error', rule: (r) => mailSettingsMatchRelay(r.mailRelay)(r),
    info: 'An app\'s mail settings do not match the city\'s relay (host, port, security) or send from outside its domain.',
    explanation: 'Apps reach only the relay\'s host name, which the mail gateway answers for: another host or port cannot work, and a sender outside the sending domain fails SPF, DKIM and DMARC.',
    fix: 'Remove the override from services.<service>.env in the city file (the apps take host, port, security and sender from mail.relay and mail.from), or use the {{smtp.*}} and {{mail.from}} placeholders. A file named in the finding (LimeSurvey\'s config.php, Matomo\'s config.ini.php, the backup plan) is rendered by Socle from mail.relay: a wrong value there is a defect of the service\'s construct, to fix in its services/ folder.',
  },
];

export type FindingStatus = 'non-compliant' | 'suppressed' | 'compliant' | 'unknown';

export interface Finding {
  readonly ruleId: string;
  readonly level: RuleLevel;
  readonly status: FindingStatus;
  readonly stack: string;
  /** Construct path, e.g. `ville-exemple-serveur-1/limesurvey/Resource`. */
  readonly path: string;
  readonly resource: string;
  readonly info: string;
  readonly details?: string;
  readonly reason?: string;
  readonly fix?: string;
}

export interface ConfigSuppression {
  /** The commune whose file holds it: it applies to that commune's stacks only. */
  readonly commune: string;
  readonly id: string;
  /** A construct path or its trailing segments. */
  readonly path: string;
  readonly reason: string;
  /** Where it was written, for messages: `file: policy.suppressions.0`. */
  readonly origin: string;
}

export interface SoclePackProps {
  /** Suppressions from the city files (`policy.suppressions`). @default none */
  readonly suppressions?: readonly ConfigSuppression[];
  /** Rules to run. @default SOCLE_RULES */
  readonly rules?: readonly RuleBinding[];
}

const resolver = new DefaultTokenResolver(new StringConcat());

/** The resource's synthesized attributes, as cdk.tf.json will hold them. */
function viewOf(resource: TerraformResource): ResourceView {
  const stack = TerraformStack.of(resource);
  const json = Tokenization.resolve(resource.toTerraform(), { scope: stack, preparing: false, resolver }) as any;
  const attrs = json.resource[resource.terraformResourceType][resource.friendlyUniqueId];
  const registryPrefix = stack instanceof HostStack ? `${stack.city.registry.host}/${stack.city.registry.namespace}/` : undefined;
  const mailRelay = stack instanceof HostStack
    ? { host: stack.city.mail.relay.host, port: stack.city.mail.relay.port, security: stack.city.mail.relay.security, domain: sendingDomain(stack.city.mail.from),
      overrides: { consultation: Object.fromEntries(Object.keys(stack.city.services.consultation.env).map((k) => [k, stack.city.locate(['services', 'consultation', 'env', k])])) } }
    : undefined;
  return { type: resource.terraformResourceType, attrs, registryPrefix, mailRelay };
}

function pathMatches(constructPath: string, pattern: string): boolean {
  const p = pattern.replace(/^\/+|\/+$/g, '');
  return constructPath === p || constructPath.endsWith(`/${p}`) || constructPath.includes(`/${p}/`) || constructPath.startsWith(`${p}/`);
}

/**
 * Runs every rule on every Terraform resource: as a cdktf Aspect (so `cdktf synth` and
 * `app.synth()` fail on an unsuppressed error) and directly through `check()` before anything is
 * written. Findings feed the per-stack policy report.
 */
export class SoclePack implements IAspect {
  public readonly findings: Finding[] = [];
  private readonly rules: readonly RuleBinding[];
  private readonly suppressions: readonly ConfigSuppression[];
  private readonly usedSuppressions = new Set<ConfigSuppression>();
  private readonly visited = new WeakSet<IConstruct>();

  constructor(props: SoclePackProps = {}) {
    this.rules = props.rules ?? SOCLE_RULES;
    this.suppressions = props.suppressions ?? [];
  }

  /** Visits the whole tree below `root` once. */
  public check(root: IConstruct): this {
    for (const node of root.node.findAll()) this.visit(node);
    return this;
  }

  public visit(node: IConstruct): void {
    if (!(node instanceof TerraformResource) || this.visited.has(node)) return;
    this.visited.add(node);
    const stack = TerraformStack.of(node).node.id;
    const resource = `${node.terraformResourceType}.${node.friendlyUniqueId}`;
    let view: ResourceView;
    try {
      view = viewOf(node);
    } catch (err) {
      this.findings.push({ ruleId: 'Socle-Unresolved', level: 'warning', status: 'unknown', stack, path: node.node.path, resource, info: `could not resolve the resource to check it: ${(err as Error).message}` });
      Annotations.of(node).addWarning(`[Socle-Unresolved] could not resolve ${resource} to check it`);
      return;
    }
    for (const binding of this.rules) {
      const result = binding.rule(view);
      if (result.status === 'not-applicable') continue;
      const base = { ruleId: binding.id, level: binding.level, stack, path: node.node.path, resource, info: binding.info };
      if (result.status === 'compliant') {
        this.findings.push({ ...base, status: 'compliant' });
        continue;
      }
      const commune = TerraformStack.of(node) instanceof HostStack ? (TerraformStack.of(node) as HostStack).communeSlug : undefined;
      const suppression = findSuppression(node, binding.id) ?? this.configSuppression(commune, node.node.path, binding.id);
      if (suppression) {
        this.findings.push({ ...base, status: 'suppressed', details: result.details, reason: suppression.reason });
        continue;
      }
      this.findings.push({ ...base, status: 'non-compliant', details: result.details, fix: binding.fix });
      const message = `[${binding.id}] ${binding.info} ${result.details}. Fix: ${binding.fix}`;
      if (binding.level === 'error') Annotations.of(node).addError(message);
      else Annotations.of(node).addWarning(message);
    }
  }

  /** Unsuppressed errors: any of these fails the synth. */
  public get errors(): Finding[] {
    return this.findings.filter((f) => f.status === 'non-compliant' && f.level === 'error');
  }

  /** City-file suppressions that matched nothing (a typo in a path must not pass silently). */
  public get unusedSuppressions(): ConfigSuppression[] {
    return this.suppressions.filter((s) => !this.usedSuppressions.has(s));
  }

  /** Rows of the policy report, per stack name. */
  public reportsByStack(): Map<string, Finding[]> {
    const byStack = new Map<string, Finding[]>();
    for (const f of this.findings) {
      const rows = byStack.get(f.stack);
      if (rows) rows.push(f);
      else byStack.set(f.stack, [f]);
    }
    return byStack;
  }

  private configSuppression(commune: string | undefined, path: string, ruleId: string): ConfigSuppression | undefined {
    const s = this.suppressions.find((c) => c.commune === commune && c.id === ruleId && pathMatches(path, c.path));
    if (s) this.usedSuppressions.add(s);
    return s;
  }
}

/** Renders findings as CSV (rule, path, resource, status, level, reason, info, details). */
export function findingsCsv(findings: readonly Finding[]): string {
  const q = (v: string | undefined) => `"${(v ?? '').replace(/"/g, '""')}"`;
  const rows = findings.map((f) => [f.ruleId, f.path, f.resource, f.status, f.level, f.reason, f.info, f.details].map(q).join(','));
  return ['rule,path,resource,status,level,reason,info,details', ...rows].join('\n') + '\n';
}

/** Human-readable lines for the unsuppressed errors. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings.map((f) => `${f.ruleId} ${f.path}\n  ${f.info} ${f.details ?? ''}\n  fix: ${f.fix ?? ''}\n  or suppress it with a reason under policy.suppressions: { id: ${f.ruleId}, path: ${f.path}, reason: "..." }`).join('\n');
}

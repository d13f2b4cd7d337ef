// A small adapter over cdktf's testing matchers for vitest: they read synthesized JSON only, so
// they work offline (cdktf wires them for jest; `Testing.setupJest()` needs vitest globals).
import { testingMatchers } from 'cdktf';
import { expect } from 'vitest';

type Props = Record<string, unknown>;
/** A provider class such as `Container` (it carries `tfResourceType`). */
type ResourceClass = { readonly tfResourceType: string };

const toHaveResourceWithProperties = testingMatchers.getToHaveResourceWithProperties();

const text = (synthesized: string | object) => (typeof synthesized === 'string' ? synthesized : JSON.stringify(synthesized));

/** The stack has a resource of that class whose properties (snake_case keys) include `props`. */
export function expectResourceWith(synthesized: string | object, resource: ResourceClass, props: Props = {}): void {
  const r = toHaveResourceWithProperties(text(synthesized), resource as any, props);
  if (!r.pass) expect.fail(r.message);
}

/** No resource of that class has properties including `props`. */
export function expectNoResourceWith(synthesized: string | object, resource: ResourceClass, props: Props = {}): void {
  const r = toHaveResourceWithProperties(text(synthesized), resource as any, props);
  if (r.pass) expect.fail(`expected no ${resource.tfResourceType} with ${JSON.stringify(props)}`);
}

// The deploy tools a city runs: OpenTofu and the two providers its stacks use, each pinned to one
// Go module version, so an air-gapped city can build them from the Go module proxy (or a copy of
// it) and lay them out as a provider mirror. The stacks, the mirror builder, the deploy command and
// the tests all read these pins from here.

/** A program built with `go build` from one module version of the Go module proxy. */
export interface GoBuild {
  /** Module path as the Go module proxy serves it. */
  readonly module: string;
  /** Exact module version (a release tag, or the pseudo-version of a release commit). */
  readonly moduleVersion: string;
  /** Package to build, relative to the module root. */
  readonly package: string;
  /** Linker flags that stamp the release version into the binary (providers: main.version). */
  readonly versionFlags?: string;
}

export interface ProviderPin extends GoBuild {
  /** Local name in `required_providers`. */
  readonly name: string;
  /** Registry namespace and type: `kreuzwerker/docker`. */
  readonly source: string;
  /** Version the mirror and the lock file carry, and the stacks require exactly. */
  readonly version: string;
  /** What the cdktf binding of this provider was generated for (its schema, its attributes). */
  readonly bindingVersion: string;
  /** Why this version, when it is not the binding's. */
  readonly why?: string;
}

/** OpenTofu, the default engine (open source, encrypts state and plans). */
export const OPENTOFU: GoBuild & { readonly version: string } = {
  module: 'github.com/opentofu/opentofu',
  moduleVersion: 'v1.12.6',
  version: '1.12.6',
  package: './cmd/tofu',
  // Without it the binary calls itself 1.12.6-dev.
  versionFlags: '-X github.com/opentofu/opentofu/version.dev=no',
};

export const PROVIDER_PINS: readonly ProviderPin[] = [
  {
    name: 'docker',
    source: 'kreuzwerker/docker',
    // Go's own name for this commit, had the module a /v4 path: after v4.6.0, on the main branch.
    version: '4.6.1-0.20260916201441-96d331c98ff4',
    module: 'github.com/kreuzwerker/terraform-provider-docker',
    moduleVersion: 'v0.0.0-20260916201441-96d331c98ff4',
    package: '.',
    bindingVersion: '3.6.2',
    why: 'the Go module proxy serves no module version of 3.6.2 (its go.mod names another module path and its tags lack /v3); '
      + 'this is the one version it serves. The 3→4 changes that touch Socle are none: `check_duplicate` on docker_network '
      + '(never set by Socle) is gone; every attribute the stacks write is checked against this build\'s schema by the engine tests.',
  },
  {
    name: 'random',
    source: 'hashicorp/random',
    version: '3.9.0',
    module: 'github.com/terraform-providers/terraform-provider-random',
    // The commit tagged v3.9.0 (the module has no /v3 path, so Go names it by pseudo-version).
    moduleVersion: 'v1.3.2-0.20260513075824-f8d869dc98d9',
    package: '.',
    bindingVersion: '3.7.2',
    why: 'the Go module proxy serves 3.9.0, not 3.7.2; same major version, same resources and attributes.',
  },
];

/** Registry hosts a provider source resolves to: OpenTofu's, and Terraform's (`--terraform`). */
export const REGISTRY_HOSTS = ['registry.opentofu.org', 'registry.terraform.io'] as const;

/** The platform Socle's deploying machines and hosts run. */
export const PLATFORM = 'linux_amd64';

/** The lock file every stack is initialised with: the providers' hashes, committed. */
export const LOCK_FILE = new URL('./terraform.lock.hcl', import.meta.url).pathname;

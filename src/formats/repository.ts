/**
 * A repository on a registry (OCI distribution's `<registry>/<name>`): what every registry call is
 * scoped to, and what a policy names when it says where else evidence may be found. Here, below
 * both the registry client and the policy, so that neither imports the other for it.
 */
export interface RepositoryRef {
  registry: string;
  repository: string;
}

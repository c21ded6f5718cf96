/** Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). */

/** The arc under which Fulcio's extensions live. */
export const FULCIO = '1.3.6.1.4.1.57264.1';

/**
 * Fulcio extensions by policy name. The first five are the deprecated v1 GitHub extensions (raw
 * strings), which cosign's --certificate-github-workflow-* flags match; the rest are the v2
 * extensions (DER UTF8String), which apply to every CI provider.
 */
export const FULCIO_EXTENSIONS: Record<string, { oid: string; der: boolean }> = {
  githubWorkflowTrigger: { oid: `${FULCIO}.2`, der: false },
  githubWorkflowSha: { oid: `${FULCIO}.3`, der: false },
  githubWorkflowName: { oid: `${FULCIO}.4`, der: false },
  githubWorkflowRepository: { oid: `${FULCIO}.5`, der: false },
  githubWorkflowRef: { oid: `${FULCIO}.6`, der: false },
  buildSignerUri: { oid: `${FULCIO}.9`, der: true },
  buildSignerDigest: { oid: `${FULCIO}.10`, der: true },
  runnerEnvironment: { oid: `${FULCIO}.11`, der: true },
  sourceRepositoryUri: { oid: `${FULCIO}.12`, der: true },
  sourceRepositoryDigest: { oid: `${FULCIO}.13`, der: true },
  sourceRepositoryRef: { oid: `${FULCIO}.14`, der: true },
  sourceRepositoryIdentifier: { oid: `${FULCIO}.15`, der: true },
  sourceRepositoryOwnerUri: { oid: `${FULCIO}.16`, der: true },
  sourceRepositoryOwnerIdentifier: { oid: `${FULCIO}.17`, der: true },
  buildConfigUri: { oid: `${FULCIO}.18`, der: true },
  buildConfigDigest: { oid: `${FULCIO}.19`, der: true },
  buildTrigger: { oid: `${FULCIO}.20`, der: true },
  runInvocationUri: { oid: `${FULCIO}.21`, der: true },
  sourceRepositoryVisibilityAtSigning: { oid: `${FULCIO}.22`, der: true },
};

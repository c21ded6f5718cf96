/**
 * The checks behind each requirement, for one subject manifest (the image, the index, or one
 * platform manifest of a multi-arch image). Each returns whether it holds, one message that says
 * precisely why (which key, which CVE, how old, which format: a person reads it in kubectl output)
 * and which referrers satisfied it. Only evidence that verified counts; evidence that did not is
 * mentioned, because "your signature exists but did not verify" is the most useful thing to tell.
 */
import {
  MAX_SCAN_TIME_SKEW_MS,
  classifyPredicateType,
  extractVulnerabilities,
  maxSeverity,
  predicateTypeVersion,
  sbomPackages,
  severityRank,
  type SbomPackage,
  type Severity,
  type VulnerabilityFinding,
  type VulnerabilityReport,
} from '../attestations';
import type { Evidence } from './input';
import { matchesGlob } from './match';
import { describeIdentity, identityMatches } from './identity';
import { judgeNotation, oneLine, type NotationTrust } from './notation-trust';
import type {
  AttestationRequirement,
  DeniedPackage,
  IdentityRequirement,
  SbomRequirement,
  SignatureRequirement,
  VulnerabilityRequirement,
} from './types';
import { readTime } from '../shared/watched-date';
import { ageAt, durationUnit, expiryAt, formatAge, satisfiesConstraints } from './values';

export interface CheckResult {
  satisfied: boolean;
  message: string;
  /** Referrer digests that satisfied the requirement (empty when it failed). */
  evidence: string[];
}

export interface CheckContext {
  /** Evidence about this subject only. */
  evidence: Evidence[];
  /** How the subject is named in messages, e.g. "sha256:0123456789ab…" or "linux/arm64 manifest sha256:…". */
  label: string;
  now: Date;
  keyNames?: ((id: string) => string | undefined) | undefined;
  /** Collects warnings (exceptions about to expire); shared across checks of one decision. */
  warnings: string[];
}

/** How many items a message lists before "and N more": enough to act on, short enough for kubectl. */
const LIST_LIMIT = 5;
/** Exceptions this close to expiry produce a warning, so that they are renewed (or fixed) in time. */
export const EXCEPTION_WARNING_MS = 7 * 86_400_000;

export function shortDigest(digest: string): string {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  return m ? `${m[1]!}:${m[2]!.slice(0, 12)}` : digest || '(unknown digest)';
}

function keyLabel(e: Evidence, ctx: CheckContext): string {
  if (e.format === 'notation')
    return e.notation ? `Notation signer ${oneLine(e.notation.subject)}` : 'a Notation signature (verification skipped)';
  if (e.keyId === undefined && e.identity) return describeIdentity(e.identity);
  return e.keyName ?? (e.keyId !== undefined ? ctx.keyNames?.(e.keyId) : undefined) ?? e.keyId ?? '(unnamed key)';
}

/**
 * Distinct signers: keys by id (two names can never share one key id), keyless signers by issuer
 * and subject (one CI workflow signing twice is one signer).
 */
function keyIdentity(e: Evidence, ctx: CheckContext): string {
  // Notation: a signer is a signing key, however often (and under whatever DN) it was certified;
  // facts from before the key was recorded fall back to the subject under its issuer. (Level
  // skip never accepts one, see notation-trust.ts; unauthenticated ones count once: see checkSignatures.)
  if (e.format === 'notation') {
    if (!e.notation) return 'notation:skipped';
    return e.notation.leafKeySha256 !== undefined
      ? `notation:key:${e.notation.leafKeySha256}`
      : `notation:${e.notation.issuer}\n${e.notation.subject}`;
  }
  if (e.keyId === undefined && e.identity) return `identity:${e.identity.issuer ?? ''}\n${e.identity.subject}`;
  return e.keyId ?? keyLabel(e, ctx);
}

/**
 * Whether a verified piece of evidence was signed by a signer the requirement accepts. Keyless
 * evidence only counts for a listed identity: a certificate from a trusted CA says who signed,
 * not that they may (anyone can get a public-good Fulcio certificate).
 */
function keyAccepted(
  keys: readonly string[] | undefined,
  e: Evidence,
  ctx: CheckContext,
  identities?: readonly IdentityRequirement[],
): boolean {
  if (e.keyId === undefined)
    return e.identity !== undefined && identities !== undefined && identities.some((m) => identityMatches(m, e.identity!));
  if (keys === undefined) return identities === undefined;
  const names = [e.keyName, e.keyId, ctx.keyNames?.(e.keyId)];
  return names.some((n) => n !== undefined && keys.includes(n));
}

function keysText(keys: readonly string[] | undefined, identities?: readonly IdentityRequirement[], notation?: NotationTrust): string {
  const ids = [
    ...(identities?.map((i) => `keyless signer ${i.text}`) ?? []),
    ...(notation ? [`a Notation signer trusted by ${notation.name}`] : []),
  ];
  if (keys === undefined) return ids.length > 0 ? ids.join(' or ') : 'a trusted key';
  return [...keys, ...ids].join(' or ');
}

function listed(items: readonly string[], limit = LIST_LIMIT): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function unverifiedNote(list: readonly Evidence[], what: string): string {
  if (list.length === 0) return '';
  const reasons = [...new Set(list.map((e) => `${shortDigest(e.referrerDigest)}: ${e.reason ?? 'not verified'}`))];
  return `; ${plural(list.length, what)} did not verify (${listed(reasons, 3)})`;
}

/** How a signature of each format is named when it is present but not verified. */
const SIGNATURE_FORMAT: Record<string, string> = {
  notation: 'Notary Project signature',
  'sigstore-bundle': 'Sigstore bundle signature',
  'cosign-legacy-signature': 'cosign .sig signature',
  'cosign-legacy-attestation': 'cosign .att signature',
};

/**
 * Names every signature that is present but not verified (a Notary Project signature, a keyless
 * cosign signature, one by an unknown key …), format by format: "your image IS signed, but not in a
 * way this policy can accept" is the most useful thing a deny can say.
 */
function presentButUnverifiedNote(list: readonly Evidence[]): string {
  const byFormat = new Map<string, Evidence[]>();
  for (const e of list) {
    const label = SIGNATURE_FORMAT[e.format] ?? 'signature';
    byFormat.set(label, [...(byFormat.get(label) ?? []), e]);
  }
  return [...byFormat]
    .map(([label, found]) => {
      const reasons = [...new Set(found.map((e) => `${shortDigest(e.referrerDigest)}: ${e.reason ?? 'not verified'}`))];
      const what =
        found.length === 1 ? `a ${label} is present but is not verified` : `${found.length} ${label}s are present but are not verified`;
      return `; ${what}: ${listed(reasons, 3)}`;
    })
    .join('');
}

/**
 * What the list of referrers itself said about this subject (unreadable, malformed entries,
 * referrers left unexamined): a missing signature may be hidden behind it.
 */
function listingNote(ctx: CheckContext): string {
  const notes = ctx.evidence.filter((e) => e.format === 'referrers-index');
  if (notes.length === 0) return '';
  return `; the referrers list was not fully usable: ${listed([...new Set(notes.map((e) => e.reason ?? 'unreadable'))], 3)}`;
}

/**
 * Why a check that must see every report of its kind cannot decide, or undefined: the collection
 * left referrers of this subject unexamined (a slow registry, or a pusher's junk spending the
 * bytes budget), and the newest scan, or an SBOM listing a denied package, may be among them. A
 * verified signature stands either way; "nothing bad was found" does not.
 */
function unexaminedProblem(ctx: CheckContext, what: string): string | undefined {
  const cut = ctx.evidence.find((e) => e.format === 'referrers-index' && e.cutShort !== undefined);
  if (cut === undefined) return undefined;
  return `${cut.reason ?? 'referrers were not examined'} on ${ctx.label}: ${what} may be among them, so none decides`;
}

function unacceptedKeyNote(list: readonly Evidence[], ctx: CheckContext, what: string): string {
  if (list.length === 0) return '';
  const names = [...new Set(list.map((e) => keyLabel(e, ctx)))];
  return `; found ${what} by ${names.join(', ')}, which this rule does not accept`;
}

// -------------------------------------------------------------------------------------------------
// Signatures

export function checkSignatures(req: SignatureRequirement, ctx: CheckContext): CheckResult {
  const signatures = ctx.evidence.filter((e) => e.kind === 'signature');
  // Naming a Notation trust (like naming identities) means no key counts unless keys are listed.
  const identities = req.identities ?? (req.notation ? [] : undefined);
  const notation = judgeNotationSignatures(req.notation, signatures, ctx);
  const verified = signatures.filter((e) => e.verified);
  const bySigner = verified.filter((e) => keyAccepted(req.keys, e, ctx, identities));
  // Log entries and timestamps are verified facts of each signature (counted by the verifier).
  const witnessShortfall = (e: Evidence): string | undefined => {
    const tlog = e.transparencyLogEntries ?? 0;
    const ts = e.timestamps ?? 0;
    if (req.transparencyLog && tlog < req.transparencyLog.minimum)
      return `${plural(tlog, 'transparency-log entry', 'transparency-log entries')}, ${req.transparencyLog.minimum} required`;
    if (req.timestamps && ts < req.timestamps.minimum) return `${plural(ts, 'verified timestamp')}, ${req.timestamps.minimum} required`;
    return undefined;
  };
  const accepted = [...bySigner.filter((e) => witnessShortfall(e) === undefined), ...notation.accepted];
  const byKey = new Map<string, Evidence>();
  for (const e of accepted) {
    // Signatures accepted without authenticity (level audit) name whoever their certificates
    // claim, minted by anyone: together they are at most one signer, never `minimum` of them.
    const signer = notation.unauthenticated.has(e) ? 'notation:unauthenticated' : keyIdentity(e, ctx);
    if (!byKey.has(signer)) byKey.set(signer, e);
  }
  const signers = [...byKey.values()].map((e) => `${keyLabel(e, ctx)} (${shortDigest(e.referrerDigest)})`);
  const what = req.identities || req.notation ? 'distinct signer' : 'distinct key';
  if (byKey.size >= req.minimum) {
    ctx.warnings.push(...notation.warnings);
    return {
      satisfied: true,
      message: `${ctx.label} is signed by ${signers.join(', ')}${req.minimum > 1 ? `: ${plural(byKey.size, what)}, ${req.minimum} required` : ''}`,
      evidence: accepted.map((e) => e.referrerDigest),
    };
  }
  const wanted = keysText(req.keys, req.identities, req.notation);
  let message =
    byKey.size === 0
      ? `no signature by ${wanted} on ${ctx.label}`
      : `${ctx.label} is signed by ${plural(byKey.size, what)} (${signers.join(', ')}) but ${req.minimum} are required` +
        (req.keys || req.identities || req.notation ? ` from ${wanted}` : '');
  if (byKey.size === 0 && req.minimum > 1) message += ` (${req.minimum} ${what}s required)`;
  const short = bySigner.flatMap((e) => {
    const shortfall = witnessShortfall(e);
    return shortfall === undefined ? [] : [`${keyLabel(e, ctx)} (${shortDigest(e.referrerDigest)}) has ${shortfall}`];
  });
  if (short.length > 0) {
    message += `; ${listed([...new Set(short)], 3)}`;
  }
  message += unacceptedKeyNote(
    verified.filter((e) => !keyAccepted(req.keys, e, ctx, identities)),
    ctx,
    'signatures',
  );
  message += presentButUnverifiedNote(
    signatures.filter((e) => !e.verified && !notation.accepted.includes(e)).map((e) => notation.rejected.get(e) ?? e),
  );
  message += listingNote(ctx);
  return { satisfied: false, message, evidence: [] };
}

/**
 * Notary Project signatures judged by the rule's Notation trust policy at this moment (expiry and
 * certificate validity depend on the time of the call). Rejected ones come back with the reason
 * the trust policy gives (e.g. "authenticity validation failed: …"); failures of logged checks of
 * accepted ones become warnings.
 */
function judgeNotationSignatures(
  trust: NotationTrust | undefined,
  signatures: readonly Evidence[],
  ctx: CheckContext,
): { accepted: Evidence[]; unauthenticated: Set<Evidence>; rejected: Map<Evidence, Evidence>; warnings: string[] } {
  const accepted: Evidence[] = [];
  const unauthenticated = new Set<Evidence>();
  const rejected = new Map<Evidence, Evidence>();
  const warnings: string[] = [];
  if (!trust) return { accepted, unauthenticated, rejected, warnings };
  for (const e of signatures) {
    if (e.format !== 'notation') continue;
    const j = judgeNotation(trust, e.notation, e.reason, ctx.now);
    if (j.accepted) {
      accepted.push(e);
      if (j.unauthenticated) unauthenticated.add(e);
      warnings.push(...j.logged.map((w) => `Notation signature ${shortDigest(e.referrerDigest)}: ${w}`));
    } else {
      rejected.set(e, { ...e, reason: j.reason ?? 'not accepted by the Notation trust policy' });
    }
  }
  return { accepted, unauthenticated, rejected, warnings };
}

// -------------------------------------------------------------------------------------------------
// SBOMs

const FORMAT_NAME: Record<string, string> = { spdx: 'SPDX', cyclonedx: 'CycloneDX' };
const formatName = (kind: string): string => FORMAT_NAME[kind] ?? kind;

export function checkSbom(req: SbomRequirement, ctx: CheckContext): CheckResult {
  const sboms = ctx.evidence.filter((e) => e.kind === 'attestation' && e.predicateType !== undefined && isSbomType(e.predicateType));
  const verified = sboms.filter((e) => e.verified);
  const inFormat = verified.filter((e) => (req.formats as readonly string[]).includes(classifyPredicateType(e.predicateType!)));
  const accepted = inFormat.filter((e) => keyAccepted(req.keys, e, ctx, req.identities));
  const notes: string[] = [];
  const parsed: Array<{ e: Evidence; kind: string; packages: SbomPackage[] }> = [];
  for (const e of accepted) {
    const kind = classifyPredicateType(e.predicateType!);
    try {
      parsed.push({ e, kind, packages: sbomPackages(e.predicateType!, e.predicate) });
    } catch (err) {
      notes.push(`${formatName(kind)} SBOM ${shortDigest(e.referrerDigest)} could not be read (${errorText(err)}), so it does not count`);
    }
  }
  const wrongFormat = verified.filter((e) => !inFormat.includes(e));
  const formatNote =
    wrongFormat.length > 0
      ? `; found ${[...new Set(wrongFormat.map((e) => formatName(classifyPredicateType(e.predicateType!))))].join(', ')} SBOMs, which this rule does not accept (formats: ${req.formats.join(', ')})`
      : '';
  const tail =
    formatNote +
    unacceptedKeyNote(
      inFormat.filter((e) => !accepted.includes(e)),
      ctx,
      'SBOMs',
    ) +
    unverifiedNote(
      sboms.filter((e) => !e.verified),
      'SBOM attestation',
    ) +
    (notes.length > 0 ? `; ${notes.join('; ')}` : '');

  if (parsed.length === 0) {
    const formats = req.formats.map(formatName).join(' or ');
    return {
      satisfied: false,
      message: `no readable ${formats} SBOM signed by ${keysText(req.keys, req.identities)} on ${ctx.label}${tail}${listingNote(ctx)}`,
      evidence: [],
    };
  }

  const unexamined =
    req.deniedPackages.length + req.deniedLicenses.length > 0 ? unexaminedProblem(ctx, 'an SBOM listing a denied package') : undefined;
  if (unexamined !== undefined) return { satisfied: false, message: unexamined, evidence: [] };
  const violations: string[] = [];
  for (const { packages } of parsed) {
    for (const pkg of packages) {
      for (const denied of req.deniedPackages) {
        if (packageDenied(pkg, denied)) {
          violations.push(
            `${pkg.name} ${pkg.version ?? '(version unknown)'} (denied: ${denied.name}${denied.versions ? ` ${denied.versions}` : ''})`,
          );
        }
      }
      const licenses = deniedLicensesOf(pkg, req.deniedLicenses);
      if (licenses.length > 0)
        violations.push(`${pkg.name}${pkg.version ? ` ${pkg.version}` : ''} has denied license ${licenses.join(', ')}`);
    }
  }
  const described = parsed.map(
    ({ e, kind, packages }) =>
      `${formatName(kind)} SBOM ${shortDigest(e.referrerDigest)} signed by ${keyLabel(e, ctx)} (${plural(packages.length, 'package')})`,
  );
  if (violations.length > 0) {
    const unique = [...new Set(violations)];
    return {
      satisfied: false,
      message: `${described.join(', ')} on ${ctx.label} lists ${plural(unique.length, 'denied package')}: ${listed(unique)}`,
      evidence: [],
    };
  }
  const checked = req.deniedPackages.length + req.deniedLicenses.length > 0 ? ', no denied packages or licenses' : '';
  return {
    satisfied: true,
    message: `${described.join(', ')} on ${ctx.label}${checked}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`,
    evidence: parsed.map(({ e }) => e.referrerDigest),
  };
}

function isSbomType(predicateType: string): boolean {
  const kind = classifyPredicateType(predicateType);
  return kind === 'spdx' || kind === 'cyclonedx';
}

/**
 * Names are compared case-insensitively with the SBOM's name, the name after a Maven-style
 * `group:` or `group/` prefix (Trivy's SPDX names Java packages `org.apache.logging.log4j:log4j-core`)
 * and the purl's name. A package without a version matches any range: fail closed.
 */
export function packageDenied(pkg: SbomPackage, denied: DeniedPackage): boolean {
  if (!packageNames(pkg).some((n) => matchesGlob(denied.name, n, true))) return false;
  if (denied.constraints.length === 0) return true;
  if (pkg.version === undefined) return true;
  return satisfiesConstraints(pkg.version, denied.constraints);
}

function packageNames(pkg: SbomPackage): string[] {
  const names = [pkg.name];
  const tail = pkg.name.split(/[:/]/).pop();
  if (tail && tail !== pkg.name) names.push(tail);
  if (pkg.purl) {
    const m = /^pkg:[^/]+\/(?:[^@?#]*\/)?([^/@?#]+)/.exec(pkg.purl);
    if (m) names.push(decodeURIComponentSafe(m[1]!));
  }
  return names;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * License expressions ("MIT OR GPL-3.0-only") are split into their ids; any denied id in the
 * expression counts, even after OR: whether the other choice was taken is not recorded anywhere.
 */
function deniedLicensesOf(pkg: SbomPackage, denied: readonly string[]): string[] {
  if (denied.length === 0) return [];
  const ids = pkg.licenses.flatMap((l) => l.split(/[\s()]+/)).filter((t) => t !== '' && !/^(AND|OR|WITH)$/i.test(t));
  return [...new Set(ids.filter((id) => denied.some((d) => matchesGlob(d, id, true))))];
}

// -------------------------------------------------------------------------------------------------
// Vulnerability scans

interface Scan {
  e: Evidence;
  report: VulnerabilityReport;
  scannedAt: Date | undefined;
}

export function checkVulnerabilities(req: VulnerabilityRequirement, ctx: CheckContext): CheckResult {
  const scans = ctx.evidence.filter((e) => e.kind === 'attestation' && e.predicateType !== undefined && isScanType(e.predicateType));
  const verified = scans.filter((e) => e.verified);
  const accepted = verified.filter((e) => keyAccepted(req.keys, e, ctx, req.identities));
  const notes: string[] = [];
  const usable: Scan[] = [];
  for (const e of accepted) {
    const id = `scan ${shortDigest(e.referrerDigest)}`;
    let report: VulnerabilityReport;
    try {
      report = extractVulnerabilities(e.predicateType!, e.predicate);
    } catch (err) {
      notes.push(`${id} could not be read (${errorText(err)})`);
      continue;
    }
    if (report.format === 'empty') {
      notes.push(`${id} carries no scanner result`);
      continue;
    }
    if (!(req.formats as readonly string[]).includes(report.format)) {
      notes.push(`${id} is a ${report.format} report; this rule accepts ${req.formats.join(', ')}`);
      continue;
    }
    const at = report.scannedAt;
    if (at !== undefined && scanTimeInFuture(at, ctx.now)) {
      notes.push(`${id} claims a scan time in the future (${iso(at)})`);
      continue;
    }
    if (at === undefined && req.maxAgeMs !== undefined) {
      notes.push(`${id} records no scan time, so its age cannot be checked`);
      continue;
    }
    usable.push({ e, report, scannedAt: at });
  }
  const tail =
    unacceptedKeyNote(
      verified.filter((e) => !accepted.includes(e)),
      ctx,
      'scans',
    ) +
    unverifiedNote(
      scans.filter((e) => !e.verified),
      'scan attestation',
    ) +
    (notes.length > 0 ? `; ${notes.join('; ')}` : '');
  if (usable.length === 0) {
    return {
      satisfied: false,
      message: `no usable vulnerability scan signed by ${keysText(req.keys, req.identities)} on ${ctx.label}${tail}${listingNote(ctx)}`,
      evidence: [],
    };
  }
  const unexamined = unexaminedProblem(ctx, 'a newer scan');
  if (unexamined !== undefined) return { satisfied: false, message: unexamined, evidence: [] };
  // The newest scan is the current truth about the image: an old clean scan must not hide a new
  // finding, and a fixed finding in an old scan must not block a newer clean one. Scans of the
  // same time (and scans of no recorded time) are each judged, and any that fails decides: which one is "newest" among them is
  // not something the order of referrer digests (which a pusher can grind) may choose.
  usable.sort(
    (a, b) =>
      (b.scannedAt?.getTime() ?? -Infinity) - (a.scannedAt?.getTime() ?? -Infinity) || a.e.referrerDigest.localeCompare(b.e.referrerDigest),
  );
  // A scan with no recorded time may be the newest as well as the oldest: it is judged too.
  const newestAt = usable[0]!.scannedAt?.getTime();
  const judged = usable
    .filter((u) => u.scannedAt === undefined || u.scannedAt.getTime() === newestAt)
    .map((newest) => judgeScan(newest, req, ctx, tail));
  return judged.find((r) => !r.satisfied) ?? judged[0]!;
}

/** One scan, taken as the newest: its age and its findings against the rule. */
function judgeScan(newest: Scan, req: VulnerabilityRequirement, ctx: CheckContext, tail: string): CheckResult {
  const unit = req.maxAgeText !== undefined ? durationUnit(req.maxAgeText) : 'h';
  const age = newest.scannedAt !== undefined ? ageAt(newest.scannedAt, ctx.now, unit, req.maxAgeMs) : undefined;
  const ageText = age !== undefined ? `, ${age.text} old` : '';
  const what =
    `vulnerability scan ${shortDigest(newest.e.referrerDigest)} by ${newest.report.scanner} signed by ${keyLabel(newest.e, ctx)} ` +
    `(${newest.report.format}, scanned ${newest.scannedAt ? iso(newest.scannedAt) : 'at an unrecorded time'}${ageText})`;
  const problems: string[] = [];

  if (req.maxAgeMs !== undefined && age?.exceeded) {
    problems.push(`scan is ${age.text} old, maximum ${req.maxAgeText ?? formatAge(req.maxAgeMs, unit)}`);
  }

  const excepted: string[] = [];
  if (req.maxSeverity !== undefined) {
    const limit = severityRank(req.maxSeverity);
    const uncovered: string[] = [];
    for (const [id, finding] of groupFindings(newest.report.findings)) {
      if (severityRank(finding.severity) <= limit) continue;
      const exception = req.exceptions.find((x) =>
        [finding.id, ...(finding.aliases ?? [])].some((i) => i.toLowerCase() === x.id.toLowerCase()),
      );
      const pkg = finding.package ? `, ${finding.package}${finding.version ? ` ${finding.version}` : ''}` : '';
      const standing = exception ? expiryAt(exception.expires, ctx.now, EXCEPTION_WARNING_MS) : undefined;
      if (exception && standing && !standing.expired) {
        excepted.push(`${id} accepted until ${exception.expiresText} (approved by ${exception.approvedBy})`);
        if (standing.left !== undefined) {
          ctx.warnings.push(
            `the exception for ${exception.id} (approved by ${exception.approvedBy}: ${exception.reason}) expires ${exception.expiresText}, ` +
              `in ${standing.left}; renew it or fix the vulnerability`,
          );
        }
        continue;
      }
      if (exception) {
        ctx.warnings.push(
          `the exception for ${exception.id} (approved by ${exception.approvedBy}) expired ${exception.expiresText} and no longer applies`,
        );
        uncovered.push(`${id} (${finding.severity}${pkg}; its exception expired ${exception.expiresText})`);
      } else {
        uncovered.push(`${id} (${finding.severity}${pkg})`);
      }
    }
    if (uncovered.length > 0) {
      problems.push(
        `${plural(uncovered.length, 'vulnerability', 'vulnerabilities')} above ${req.maxSeverity} without a valid exception: ${listed(uncovered)}`,
      );
    }
  }

  if (problems.length > 0) {
    return { satisfied: false, message: `newest ${what} on ${ctx.label}: ${problems.join('; ')}${tail}`, evidence: [] };
  }
  const max: Severity | undefined = maxSeverity(newest.report.findings);
  const summary =
    max === undefined // exactly when there are no findings
      ? 'no vulnerabilities'
      : `${plural(groupFindings(newest.report.findings).size, 'vulnerability', 'vulnerabilities')}, highest ${max}` +
        (req.maxSeverity !== undefined ? `, none above ${req.maxSeverity} without an exception` : '');
  return {
    satisfied: true,
    message: `${what} on ${ctx.label}: ${summary}${excepted.length > 0 ? `; ${excepted.join('; ')}` : ''}`,
    evidence: [newest.e.referrerDigest],
  };
}

function isScanType(predicateType: string): boolean {
  const kind = classifyPredicateType(predicateType);
  return kind === 'cosign-vuln' || kind === 'intoto-vulns';
}

/**
 * One entry per vulnerability id (a CVE that affects three packages is one problem to fix, one
 * exception to grant), keeping its highest severity and the first affected package.
 */
function groupFindings(findings: readonly VulnerabilityFinding[]): Map<string, VulnerabilityFinding> {
  const byId = new Map<string, VulnerabilityFinding>();
  for (const f of findings) {
    const prev = byId.get(f.id);
    if (prev === undefined) {
      byId.set(f.id, { ...f, aliases: [...(f.aliases ?? [])] });
    } else {
      if (severityRank(f.severity) > severityRank(prev.severity)) prev.severity = f.severity;
      for (const a of f.aliases ?? []) if (!prev.aliases!.includes(a)) prev.aliases!.push(a);
    }
  }
  return byId;
}

// -------------------------------------------------------------------------------------------------
// Other attestations

/** Exact predicate type, or a versioned form of it (`…/provenance` accepts `…/provenance/v1`). */
function predicateTypeMatches(required: string, actual: string): boolean {
  return actual === required || predicateTypeVersion(actual, required) !== undefined;
}

export function checkAttestation(req: AttestationRequirement, ctx: CheckContext): CheckResult {
  const matching = ctx.evidence.filter(
    (e) => e.kind === 'attestation' && e.predicateType !== undefined && predicateTypeMatches(req.predicateType, e.predicateType),
  );
  const verified = matching.filter((e) => e.verified);
  const accepted = verified.filter((e) => keyAccepted(req.keys, e, ctx, req.identities));
  if (accepted.length > 0) {
    const by = [...new Set(accepted.map((e) => `${keyLabel(e, ctx)} (${shortDigest(e.referrerDigest)})`))];
    return {
      satisfied: true,
      message: `${req.predicateType} attestation on ${ctx.label} signed by ${by.join(', ')}`,
      evidence: accepted.map((e) => e.referrerDigest),
    };
  }
  return {
    satisfied: false,
    message:
      `no ${req.predicateType} attestation signed by ${keysText(req.keys, req.identities)} on ${ctx.label}` +
      unacceptedKeyNote(verified, ctx, 'attestations') +
      unverifiedNote(
        matching.filter((e) => !e.verified),
        'attestation',
      ) +
      listingNote(ctx),
    evidence: [],
  };
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Whether a scan claims a time further ahead of `now` than clocks drift (a forged or broken scan
 * time, not a usable scan). A bounded reading of the time: a claim ahead now is no longer ahead
 * once the clock catches up with it, and one that is not ahead stays so.
 */
function scanTimeInFuture(at: Date, now: Date): boolean {
  const limit = at.getTime() - MAX_SCAN_TIME_SKEW_MS;
  return readTime(now, (t) => (t < limit ? [true, limit] : [false, Infinity]));
}

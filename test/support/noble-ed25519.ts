/**
 * @noble/curves' Ed25519 variants for tests that sign as cosign and the RFC 8032 vectors do (Node's
 * crypto has no Ed25519ph or Ed25519ctx). The package is ESM-only: this CommonJS test build loads it
 * through require() (Node 24), as src/verification/legacy/crypto.ts does; the type comes from a
 * type-only import resolved as ESM.
 */
import type * as NobleEd25519 from '@noble/curves/ed25519.js' with { 'resolution-mode': 'import' };

export const { ed25519, ed25519ph, ed25519ctx } = require('@noble/curves/ed25519.js') as typeof NobleEd25519;

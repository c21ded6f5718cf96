/**
 * The policy in force: read from its file (hot-reloaded, with the Notation trust-store files it
 * names) or, without a file, the policy stored through PolicyService (audited, revisioned, and
 * re-read on every replica when the store announces a change). A service over the pure policy core.
 */
export {
  PolicyStore,
  type PolicyChangeListener,
  type PolicyInfo,
  type PolicyLogger,
  type PolicySource,
  type PolicyStoreOptions,
} from './policy-store';
export { STORED_POLICY_SOURCE, parseStoredPolicy } from './stored-policy';

/** Canonical JSON is a wire encoding with one definition, in src/formats (the policy revision uses it too). */
export { canonicalJson } from '../formats/canonical-json';

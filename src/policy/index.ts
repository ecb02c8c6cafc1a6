export { compilePattern, PatternError, type MatchMode, type PathMatcher } from './pattern.js';
export { Policy } from './policy.js';

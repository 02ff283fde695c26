/**
 * IAM role trust-policy evaluation for the local STS (test support): the subset a trust policy for
 * web identity or role chaining uses (Allow/Deny, Principal Federated/AWS, Action with wildcards,
 * StringEquals/StringLike/StringNotEquals/StringNotLike with ForAnyValue/ForAllValues qualifiers).
 * An operator outside that subset throws, so a test never passes on a condition nobody evaluated.
 */

export interface TrustPolicy {
  Version?: string;
  Statement: TrustStatement | TrustStatement[];
}

export interface TrustStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: '*' | { Federated?: string | string[]; AWS?: string | string[]; Service?: string | string[] };
  Action: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface AssumeRequest {
  action: 'sts:AssumeRoleWithWebIdentity' | 'sts:AssumeRole';
  /** Federated provider ARN (web identity) or the caller's ARN (AssumeRole). */
  principal: string;
  principalKind: 'Federated' | 'AWS';
  /** Condition keys, e.g. "api.bitbucket.org/2.0/.../oidc:aud". */
  context: Record<string, string>;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM wildcards: * any run of characters, ? one character; case-sensitive. */
export function iamLike(pattern: string, value: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(value);
}

function principalMatches(s: TrustStatement, r: AssumeRequest): boolean {
  if (s.Principal === '*') return true;
  return list(s.Principal[r.principalKind]).some((p) => {
    if (p === '*' || p === r.principal) return true;
    // "arn:aws:iam::<account>:root" (or a bare account id) trusts every principal of that account.
    const account = /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/.exec(r.principal)?.[1];
    return r.principalKind === 'AWS' && account !== undefined && (p === account || p === `arn:aws:iam::${account}:root`);
  });
}

function conditionHolds(operator: string, expected: Record<string, string | string[]>, context: Record<string, string>): boolean {
  const m = /^(?:(ForAnyValue|ForAllValues):)?(StringEquals|StringLike|StringNotEquals|StringNotLike)(IfExists)?$/.exec(operator);
  if (!m) throw new Error(`sts-policy: condition operator ${operator} is not supported by the test STS`);
  const [, , op, ifExists] = m;
  return Object.entries(expected).every(([key, values]) => {
    const actual = context[key];
    if (actual === undefined) return Boolean(ifExists) || op!.includes('Not');
    const matches = list(values).some((v) => (op!.endsWith('Like') ? iamLike(v, actual) : v === actual));
    return op!.includes('Not') ? !matches : matches;
  });
}

function statementApplies(s: TrustStatement, r: AssumeRequest): boolean {
  const actionOk = list(s.Action).some((a) => iamLike(a.toLowerCase(), r.action.toLowerCase()));
  if (!actionOk || !principalMatches(s, r)) return false;
  return Object.entries(s.Condition ?? {}).every(([op, expected]) => conditionHolds(op, expected, r.context));
}

/** Explicit Deny wins, then any Allow; nothing matching is an implicit deny. */
export function trustAllows(policy: TrustPolicy, r: AssumeRequest): boolean {
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  if (statements.some((s) => s.Effect === 'Deny' && statementApplies(s, r))) return false;
  return statements.some((s) => s.Effect === 'Allow' && statementApplies(s, r));
}

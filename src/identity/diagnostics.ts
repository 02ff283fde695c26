// What a role's trust policy must contain for the token that was presented, when STS refuses it.
// Pure: claims + role ARN + STS's answer in, lines to print out.
import { audienceOf, describeClaims, type OidcClaims } from './oidc.js';

export interface TrustPolicyAdvice {
  /** IAM's name for the OIDC provider: the issuer URL without https:// */
  providerId: string;
  providerArn: string;
  account: string;
  roleName: string;
  audience: string;
  /** StringLike pattern for sub: "{repo}:*", or "{repo}:{environment}:*" in a deployment step. */
  subjectPattern: string;
  policy: object;
}

/** The STS error codes that mean "this token is not accepted for this role" (never retried). */
export const REJECTION_CODES = new Set(['AccessDenied', 'InvalidIdentityToken', 'IDPRejectedClaim', 'ExpiredTokenException', 'ExpiredToken']);

export function trustPolicyFor(claims: OidcClaims, roleArn: string): TrustPolicyAdvice {
  const [, partition = 'aws', , , account = '<account-id>', resource = 'role/<role>'] = roleArn.split(':');
  const providerId = (claims.iss ?? '<issuer>').replace(/^https?:\/\//, '').replace(/\/$/, '');
  const providerArn = `arn:${partition}:iam::${account}:oidc-provider/${providerId}`;
  const repository = claims.repositoryUuid ?? claims.sub?.split(':')[0] ?? '<repository-uuid>';
  const subjectPattern = claims.deploymentEnvironmentUuid ? `${repository}:${claims.deploymentEnvironmentUuid}:*` : `${repository}:*`;
  const audience = audienceOf(claims) ?? '<audience>';
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: providerArn },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${providerId}:aud`]: audience },
          StringLike: { [`${providerId}:sub`]: subjectPattern },
        },
      },
    ],
  };
  return { providerId, providerArn, account, roleName: resource.split('/').pop()!, audience, subjectPattern, policy };
}

export interface Rejection {
  code: string;
  message: string;
  roleArn: string;
  claims: OidcClaims;
  now?: number;
}

/** Why STS refused, in the user's terms: one line per cause it can be, most likely first. */
function causes(r: Rejection, a: TrustPolicyAdvice): string[] {
  const issuer = r.claims.iss ?? '<issuer>';
  const createProvider = `aws iam create-open-id-connect-provider --url ${issuer} --client-id-list '${a.audience}'`;
  if (r.code === 'InvalidIdentityToken' && /audience/i.test(r.message)) {
    return [
      `The OIDC provider ${a.providerId} in account ${a.account} does not list this token's audience.`,
      `Add the audience "${a.audience}" to it (IAM > Identity providers > ${a.providerId} > Add audience), or run:`,
      `  aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${a.providerArn} --client-id '${a.audience}'`,
      'and make the trust policy below compare aud with the same value.',
    ];
  }
  if (r.code === 'InvalidIdentityToken' && /no openidconnect provider/i.test(r.message)) {
    return [`Account ${a.account} has no OIDC provider for ${issuer}. Create it (IAM > Identity providers > Add provider > OpenID Connect), or run:`, `  ${createProvider}`];
  }
  if (r.code === 'InvalidIdentityToken') {
    return [
      'STS could not validate the token itself (signature, format or issuer keys).',
      `Check that the provider ${a.providerId} exists in account ${a.account} for this workspace's issuer, and that BITBUCKET_STEP_OIDC_TOKEN is the step's own token (set by \`oidc: true\`, not a pipe variable).`,
    ];
  }
  if (r.code === 'ExpiredTokenException' || r.code === 'ExpiredToken') {
    return ["The token had expired when STS checked it. Re-run the step (each step gets a fresh token) and check the runner's clock; the trust policy itself may be fine."];
  }
  if (r.code === 'IDPRejectedClaim') {
    return ['The identity provider rejected a claim of the token. Re-run the step; if it persists, compare the claims below with the trust policy.'];
  }
  return [
    `The role ${r.roleArn} does not trust this token: the role does not exist, or its trust policy has no statement whose`,
    `Principal, aud and sub conditions match the claims below. Replace (or add to) its trust policy:`,
    `IAM > Roles > ${a.roleName} > Trust relationships > Edit trust policy.`,
  ];
}

/** The block printed when STS refuses a token: cause, presented claims, ready-to-paste policy. */
export function explainRejection(r: Rejection): string[] {
  const advice = trustPolicyFor(r.claims, r.roleArn);
  return [
    `STS refused the Bitbucket OIDC token for role ${r.roleArn}: ${r.code}: ${r.message}`,
    ...causes(r, advice),
    '',
    'Claims of the token that was presented (the token itself is not shown):',
    ...describeClaims(r.claims, r.now).map((line) => `  ${line}`),
    '',
    `Trust policy for ${advice.roleName} that accepts tokens like this one (${r.claims.deploymentEnvironmentUuid ? 'this deployment environment' : 'any step'} of this repository):`,
    ...JSON.stringify(advice.policy, null, 2).split('\n'),
    '',
    `The OIDC provider must exist in account ${advice.account}: ${advice.providerArn}`,
    `  with audience (client ID) ${advice.audience}.`,
  ];
}

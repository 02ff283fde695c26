// AWS credentials for the run: the Bitbucket OIDC token exchanged with STS (preferred), or static
// keys; then, optionally, one more role assumed with them (AWS_ROLE_ARN, role chaining).
import type { BuildContext, IdentityConfig } from '../config/index.js';
import { InputError, type Location } from '../util/errors.js';
import { registerSecret } from '../report/mask.js';
import { explainRejection } from './diagnostics.js';
import { readOidcToken, type OidcClaims } from './oidc.js';
import { assumeRole, assumeRoleWithWebIdentity, callerArn, sessionName, StsRejection, type AwsIdentity, type StsSettings } from './sts.js';

export type { AwsIdentity } from './sts.js';

export interface RenewalOptions {
  /** This exchange renews the run's AWS session; the first one succeeded at this time. */
  renewalOf?: Date;
}

/** The longest session AWS allows when a role session assumes another role. */
const CHAINED_MAX_SECONDS = 3600;

export async function obtainAwsIdentity(
  id: IdentityConfig,
  build: Pick<BuildContext, 'repoSlug' | 'buildNumber'>,
  s: StsSettings,
  o: RenewalOptions = {},
): Promise<AwsIdentity> {
  const name = sessionName(id.roleSessionName, build);
  let identity: AwsIdentity;
  if (id.oidcRoleArn) {
    identity = await exchangeOidcToken(id.oidcRoleArn, id.from?.oidcRoleArn ?? { variable: 'AWS_OIDC_ROLE_ARN' }, id.oidcToken, name, id.sessionDurationSeconds, s, o);
    s.logger.debug(`OIDC token exchanged for ${identity.arn} (credentials until ${identity.credentials.expiration?.toISOString() ?? 'unknown'})`);
  } else if (id.accessKeyId && id.secretAccessKey) {
    registerSecret(id.secretAccessKey);
    registerSecret(id.sessionToken);
    s.logger.warn('using static AWS keys (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); OIDC is preferred: set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step, then delete the keys');
    const credentials = { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken };
    identity = { credentials, arn: id.roleArn ? 'static keys' : await callerArn(s, credentials) };
  } else {
    throw new Error('obtainAwsIdentity needs AWS_OIDC_ROLE_ARN or static keys (config checks this)');
  }
  if (!id.roleArn) return identity;
  const chained = identity.arn.includes(':assumed-role/') || Boolean(id.sessionToken);
  const durationSeconds = chained ? Math.min(id.sessionDurationSeconds, CHAINED_MAX_SECONDS) : id.sessionDurationSeconds;
  if (durationSeconds < id.sessionDurationSeconds) s.logger.debug(`role chaining: session limited to ${durationSeconds} s by AWS`);
  const next = await assumeRole(s, identity.credentials, { roleArn: id.roleArn, sessionName: name, durationSeconds });
  s.logger.debug(`assumed ${next.arn} with ${identity.arn}`);
  return next;
}

/**
 * AssumeRoleWithWebIdentity; a refusal prints what the trust policy must contain for this token.
 * A renewal's refusal does not: STS accepted the same token at the start of the run, so the
 * policy it would print is not what went wrong; its error says what can have changed instead.
 */
async function exchangeOidcToken(
  roleArn: string,
  role: Location,
  token: string | undefined,
  name: string,
  durationSeconds: number,
  s: StsSettings,
  o: RenewalOptions = {},
): Promise<AwsIdentity> {
  const since = o.renewalOf ? ` at the start of this run (${o.renewalOf.toISOString().replace(/\.\d{3}Z$/, 'Z')})` : '';
  let claims: OidcClaims;
  try {
    claims = readOidcToken(token, Date.now(), role);
  } catch (err) {
    if (!o.renewalOf || !(err instanceof InputError)) throw err;
    throw new InputError(err.message, {
      where: err.where,
      hint: `STS accepted the step's OIDC token${since}; it has expired since, so the session cannot be renewed with it: set SESSION_DURATION so that the session outlasts the deploy`,
    });
  }
  s.logger.debug(`OIDC token: iss ${claims.iss}, aud ${String(claims.aud)}, sub ${claims.sub}`);
  try {
    return await assumeRoleWithWebIdentity(s, token!, { roleArn, sessionName: name, durationSeconds, from: role });
  } catch (err) {
    if (!(err instanceof StsRejection)) throw err;
    if (o.renewalOf) {
      const exp = claims.exp !== undefined ? ` (it is valid until ${new Date(claims.exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')})` : '';
      throw new StsRejection(err.code, err.stsMessage, {
        where: role,
        hint: `STS accepted the step's OIDC token for ${roleArn}${since} and refused it for the renewal: the token expired${exp}, the role's trust policy or its OIDC provider changed during the run, or STS refused for the reason it gives; check the role, then re-run the step (a new step gets a new token)`,
      });
    }
    for (const line of explainRejection({ code: err.code, message: err.stsMessage, roleArn, claims })) s.logger.info(line);
    throw new StsRejection(err.code, err.stsMessage, {
      where: role,
      hint: `fix the trust policy of ${roleArn} or its OIDC provider as shown above, then re-run`,
    });
  }
}

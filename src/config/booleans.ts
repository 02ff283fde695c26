// Booleans as Bitbucket users write them: true/false/yes/no/y/n/1/0/on/off, any case. No zod here:
// the credential plugin (eks-token) reads DEBUG with this and starts without the config schema.

export const TRUE = ['true', 'yes', 'y', '1', 'on'];
export const FALSE = ['false', 'no', 'n', '0', 'off'];

/** Whether a variable says yes; unset, empty or anything else is no. */
export function isTrue(value: string | undefined): boolean {
  return TRUE.includes((value ?? '').trim().toLowerCase());
}

import { SignJWT } from 'jose';

/** Seconds an assertion lives; Shipyard refuses any that lives over 300 s. */
export const ASSERTION_LIFETIME_SECONDS = 60;

/** The header carrying the assertion (Shipyard's `ON_BEHALF_HEADER`). */
export const ON_BEHALF_HEADER = 'X-Shipyard-On-Behalf-Of';

/**
 * Signs the on-behalf-of assertion naming one person: `sub` their user entity ref,
 * `ent` their ownership refs, HS256 with the secret shared with Shipyard.
 */
export async function signAssertion(options: {
  secret: string;
  issuer: string;
  userEntityRef: string;
  ownershipEntityRefs: string[];
  now?: Date;
}): Promise<string> {
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ ent: options.ownershipEntityRefs })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience('shipyard')
    .setSubject(options.userEntityRef)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
    .sign(new TextEncoder().encode(options.secret));
}

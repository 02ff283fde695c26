// Classifying errors from AWS SDK calls: STS's own code, and whether retrying can help.

const TRANSIENT_CODES = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'IDPCommunicationError', 'ServiceUnavailable', 'InternalFailure', 'RequestTimeout']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

interface AwsError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

/** STS's own error code (the SDK's `Code`), else the SDK's error name or a Node network code. */
export function awsErrorCode(err: unknown): string {
  const e = (err ?? {}) as AwsError;
  return e.Code ?? e.code ?? e.name ?? 'Error';
}

export function isTransient(err: unknown): boolean {
  const e = (err ?? {}) as AwsError;
  const code = awsErrorCode(err);
  if (TRANSIENT_CODES.has(code) || NETWORK_CODES.has(code) || code === 'TimeoutError') return true;
  if (code === 'InvalidIdentityToken' && /couldn't retrieve verification key/i.test(e.message ?? '')) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

/** CIP-22 pile identity: SM2 / ECDSA P-256 signatures, X.509 chains, ephemeral ECDH. */
export type { IdentityAlg } from './algorithms.js';
export { SM2_SIGNER_ID } from './algorithms.js';
export { loadAuthKey, signAuth, verifyAuth } from './signature.js';
export { parseCertificate, verifyCertSignature, loadRoots } from './certificate.js';
export type { ParsedCertificate, CertSigAlg } from './certificate.js';
export { verifyPileChain, verifyPileChainWith } from './chain.js';
export type { ChainFailure, ChainResult, PileChainInput, SignatureJob } from './chain.js';
export { VerifyBusy, VerifyPool } from './verify-pool.js';
export { authJob, certJob, runJob, runVerifyJob } from './verify-job.js';
export type { AuthJob, CertJob, KeyPair, KeysJob, VerifyJob, VerifyOutcome } from './verify-job.js';
export { createEphemeral, ephemeralFromPair, authSignedInput } from './ephemeral.js';
export { EphemeralStock } from './ephemeral-stock.js';
export type { Ephemeral } from './ephemeral.js';
export { CertificateCache } from './cache.js';

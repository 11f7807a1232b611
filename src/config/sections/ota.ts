import { z } from 'zod';

/** Signed self-update (docs/ota.md). Nothing here switches a release without a verified signature. */
export const otaSchema = z.strictObject({
  commands: z.boolean().default(false).describe('Accept signed update commands on {prefix}/{site}/agent/ota'),
  root: z
    .string()
    .min(1)
    .default('/opt/edge-agent')
    .describe('Install root holding releases/, current and previous'),
  mode: z
    .enum(['split', 'inline'])
    .default('split')
    .describe(
      'split: the agent downloads and asks, the root edge-agent-ota.service re-verifies, unpacks, switches, commits and rolls back (docs/security.md); inline: one process does everything (development, tests)',
    ),
  dataDir: z
    .string()
    .min(1)
    .default('/var/lib/edge-agent/ota')
    .describe("The agent's staging area: partial downloads, update requests, seen command ids"),
  stateDir: z
    .string()
    .min(1)
    .default('/var/lib/edge-agent-ota')
    .describe(
      "Root's: state.json, the version floor and its copies of requested bundles (read-only to the agent)",
    ),
  publicKeys: z
    .array(z.string().min(1))
    .default(['/etc/edge-agent/ota-keys'])
    .describe(
      'Pinned Ed25519 keys that may sign bundles: PEM files, or directories of *.pem (deploy/install.sh pins into /etc/edge-agent/ota-keys)',
    ),
  commandPublicKeys: z
    .array(z.string().min(1))
    .optional()
    .describe('PEM files of the keys that may sign agent/ota commands; absent: the bundle keys'),
  allowDowngrade: z.boolean().default(false).describe('Accept older bundles without --force'),
  keepReleases: z
    .number()
    .int()
    .min(2)
    .default(3)
    .describe('Releases kept after a commit (current and previous always)'),
  trialWindowSec: z
    .number()
    .int()
    .positive()
    .default(120)
    .describe('A new release must report healthy within this'),
  maxTrialBoots: z
    .number()
    .int()
    .positive()
    .default(3)
    .describe('Starts allowed on trial before a crash-loop rollback'),
  brokerOptional: z
    .boolean()
    .default(false)
    .describe('Commit a trial release even when the MQTT broker is unreachable'),
  requireHttps: z.boolean().default(true).describe('Refuse http:// bundle URLs'),
  tls: z
    .strictObject({
      ca: z
        .string()
        .min(1)
        .optional()
        .describe('PEM file of the CA that signs the update server (default: system CAs)'),
    })
    .prefault({}),
  downloadTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(30_000)
    .describe('Abort a download attempt after this long without a byte'),
  downloadAttempts: z
    .number()
    .int()
    .positive()
    .default(5)
    .describe('Attempts per download; each resumes the partial file'),
  maxBundleBytes: z
    .number()
    .int()
    .positive()
    .default(512 * 1024 * 1024),
  commandMaxTtlSec: z
    .number()
    .int()
    .positive()
    .default(86_400)
    .describe('Longest validity window a signed command may claim'),
  clockSkewSec: z
    .number()
    .int()
    .min(0)
    .default(300)
    .describe('Tolerated clock difference for a command issued in the future'),
  restartCommand: z
    .array(z.string().min(1))
    .min(1)
    .default(['systemctl', 'restart', 'edge-agent.service'])
    .describe(
      'How root (the CLI, the privileged step) restarts the service after a switch or rollback (inline mode: the agent exits with code 75)',
    ),
});
export type OtaConfig = z.infer<typeof otaSchema>;

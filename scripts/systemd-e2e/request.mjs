// The agent's half of an update, run in the guest as uid edge-agent (scripts/systemd-e2e/guest.sh):
// the installed release's own OtaRequester, with the ota section of /etc/edge-agent/config.yaml,
// drops a request under /var/lib/edge-agent/ota/requests/. It switches nothing itself.
//   node request.mjs BUNDLE.tar.gz
const release = '/opt/edge-agent/current/dist/src';
const { loadConfigFile } = await import(`${release}/config/load.js`);
const { effectiveOtaConfig } = await import(`${release}/ota/legacy.js`);
const { OtaRequester } = await import(`${release}/ota/requester.js`);
const { systemClock } = await import(`${release}/core/clock.js`);
const { silentLogger } = await import(`${release}/core/ports.js`);

const { config, legacy } = effectiveOtaConfig(loadConfigFile('/etc/edge-agent/config.yaml').ota);
if (legacy) throw new Error('the split is not installed: the agent would update inline');
const requester = new OtaRequester({ config, logger: silentLogger, clock: systemClock });
const result = await requester.apply({ source: process.argv[2] ?? '', origin: 'cli', force: false });
process.stdout.write(`requested ${result.version}\n`);

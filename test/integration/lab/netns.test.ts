import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Topology, probeNetnsSupport } from '../../../src/lab/netns.js';

const support = await probeNetnsSupport();
const skip = support.ok ? false : `network namespaces unavailable: ${support.reason}`;

const hostState = () => ({
  netns: execFileSync('ip', ['netns', 'list']).toString(),
  ruleset: execFileSync('nft', ['list', 'ruleset']).toString(),
  links: execFileSync('ip', ['-o', 'link', 'show']).toString().replace(/\s+\\\s+link.*$/gm, ''),
});

test('lab netns - a topology routes client → NAT router → server and leaves nothing behind', { skip }, async () => {
  const before = hostState();
  const topo = await Topology.create();
  try {
    const names = execFileSync('ip', ['netns', 'list']).toString();
    for (const ns of Object.values(topo.ns)) assert.match(names, new RegExp(ns));
    // The host's own interfaces did not change: everything lives inside the namespaces.
    assert.equal(hostState().links, before.links);
    assert.equal(hostState().ruleset, before.ruleset);
    // A TCP connection from the client namespace reaches the server namespace through the NAT,
    // and the server sees the router's address (masquerade), not the client's.
    const server = topo.spawnIn('server', process.execPath, [
      '-e',
      `require('net').createServer(s => { s.end(s.remoteAddress + '\\n'); }).listen(7000, '${topo.serverIp}', () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
    const { stdout } = await topo.exec('client', process.execPath, [
      '-e',
      `const c = require('net').connect(7000, '${topo.serverIp}'); c.on('data', d => { process.stdout.write(d); c.destroy(); });`,
    ]);
    assert.equal(stdout.trim(), topo.routerServerSideIp);
    assert.equal(await topo.readSysctl('router', 'net.ipv4.ip_forward'), '1');
    // Host crash and reboot: the server namespace can be removed and re-created.
    await topo.removeServerHost();
    assert.doesNotMatch(execFileSync('ip', ['netns', 'list']).toString(), new RegExp(topo.ns.server));
    await topo.buildServerHost();
    assert.match(execFileSync('ip', ['netns', 'list']).toString(), new RegExp(topo.ns.server));
  } finally {
    await topo.destroy();
  }
  const after = hostState();
  assert.equal(after.netns, before.netns, 'namespaces removed');
  assert.equal(after.ruleset, before.ruleset, 'host nftables ruleset unchanged');
  assert.equal(after.links, before.links, 'host links unchanged');
});

test('lab netns - a failing build removes what it created', { skip }, async () => {
  const before = hostState();
  const topo = await Topology.create();
  await assert.rejects(topo.nft('router', 'this is not nftables'), /nft in router failed/);
  await topo.destroy();
  assert.equal(hostState().netns, before.netns);
});

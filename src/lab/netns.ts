/**
 * Network-namespace topology for the fault lab: three "hosts" on one machine.
 *
 *   client ns ── veth ── router ns ── veth ── server ns
 *   10.N.1.2            10.N.1.1 │ 10.N.2.1        10.N.2.2
 *                       source NAT, conntrack, nftables faults
 *
 * Never touches the host's own interfaces, routes or sysctls: every link, address, rule and
 * sysctl lives inside namespaces this module created, and `destroy()` (also run on exit,
 * SIGINT/SIGTERM and failure through `destroyAllTopologies`) removes them. Needs root and `ip`,
 * `nft` (nftables), `ss` (iproute2).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);

export interface NetnsSupport {
  ok: boolean;
  /** Why namespaces cannot be used here (shown in the lab's output). */
  reason?: string;
}

/** Can this process build namespace topologies? (root + ip + nft + ss, and netns creation works) */
export async function probeNetnsSupport(): Promise<NetnsSupport> {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'not running as root' };
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['nft', 'nftables'], ['ss', 'iproute2']] as const) {
    try {
      await run(cmd, ['-V']);
    } catch {
      return { ok: false, reason: `\`${cmd}\` not found (install ${pkg})` };
    }
  }
  const probe = `llprobe-${randomBytes(3).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['netns', 'del', probe]);
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace: ${(err as Error).message.split('\n')[0]}` };
  }
  return { ok: true };
}

export type Host = 'client' | 'router' | 'server';

const live = new Set<Topology>();
let hooksInstalled = false;
let nextSubnet = 0;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Synchronous best effort on exit; async destroy runs for signals before exiting.
  process.on('exit', () => {
    for (const t of live) t.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      void destroyAllTopologies().finally(() => process.exit(130));
    });
  }
}

export async function destroyAllTopologies(): Promise<void> {
  await Promise.allSettled([...live].map((t) => t.destroy()));
}

export class Topology {
  readonly id: string;
  readonly ns: Record<Host, string>;
  readonly clientIp: string;
  readonly serverIp: string;
  readonly routerClientSideIp: string;
  readonly routerServerSideIp: string;
  private readonly subnet: number;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor() {
    this.id = randomBytes(3).toString('hex');
    this.ns = { client: `ll-${this.id}-c`, router: `ll-${this.id}-r`, server: `ll-${this.id}-s` };
    // 10.213.0.0/16 is carved into /24 pairs; only ever routed inside our namespaces.
    this.subnet = (nextSubnet++ % 120) * 2 + 2;
    this.clientIp = `10.213.${this.subnet}.2`;
    this.routerClientSideIp = `10.213.${this.subnet}.1`;
    this.routerServerSideIp = `10.213.${this.subnet + 1}.1`;
    this.serverIp = `10.213.${this.subnet + 1}.2`;
  }

  /** Interface names must fit in 15 bytes. */
  private dev(name: 'c0' | 'r0' | 'r1' | 's0'): string {
    return `ll${this.id}${name}`;
  }

  static async create(): Promise<Topology> {
    installExitHooks();
    const t = new Topology();
    live.add(t);
    try {
      await t.build();
    } catch (err) {
      await t.destroy();
      throw err;
    }
    return t;
  }

  private async build(): Promise<void> {
    const { client, router } = this.ns;
    await run('ip', ['netns', 'add', client]);
    await run('ip', ['netns', 'add', router]);
    await run('ip', ['link', 'add', this.dev('c0'), 'netns', client, 'type', 'veth', 'peer', 'name', this.dev('r0'), 'netns', router]);
    await this.ip(client, ['addr', 'add', `${this.clientIp}/24`, 'dev', this.dev('c0')]);
    await this.ip(router, ['addr', 'add', `${this.routerClientSideIp}/24`, 'dev', this.dev('r0')]);
    for (const [ns, dev] of [[client, 'lo'], [client, this.dev('c0')], [router, 'lo'], [router, this.dev('r0')]] as const) {
      await this.ip(ns, ['link', 'set', dev, 'up']);
    }
    await this.ip(client, ['route', 'add', 'default', 'via', this.routerClientSideIp]);
    await this.sysctl('router', 'net.ipv4.ip_forward', 1);
    // The router is a NAT: masquerade towards the server, and silently drop packets of flows it
    // does not know (a non-SYN without a conntrack entry) — what a NAT that forgot a flow does.
    // Both directions: the server's packets of a forgotten flow are addressed to the router itself
    // (source NAT), so they take the input path; without the input rule the router's own kernel
    // would answer them with RST, which real NATs mostly do not. SNAT to a fixed address rather
    // than masquerade: masquerade flushes its flows when the link goes down, and the host-crash
    // fault must keep the router's memory of the flow across the server's "reboot".
    await this.nft(
      'router',
      `table ip lab {
        chain forward_filter {
          type filter hook forward priority 0; policy accept;
          ct state invalid drop
          tcp flags & (syn|ack) != syn ct state new drop
        }
        chain input_filter {
          type filter hook input priority 0; policy accept;
          ct state invalid drop
          tcp flags & (syn|ack) != syn ct state new drop
        }
        chain postrouting_nat {
          type nat hook postrouting priority 100; policy accept;
          oifname "${this.dev('r1')}" snat to ${this.routerServerSideIp}
        }
      }`,
    );
    await this.buildServerHost();
  }

  /** Create (or re-create, after a "host crash") the server namespace and its link. */
  async buildServerHost(): Promise<void> {
    const { server, router } = this.ns;
    await run('ip', ['netns', 'add', server]);
    await run('ip', ['link', 'add', this.dev('r1'), 'netns', router, 'type', 'veth', 'peer', 'name', this.dev('s0'), 'netns', server]);
    await this.ip(router, ['addr', 'add', `${this.routerServerSideIp}/24`, 'dev', this.dev('r1')]);
    await this.ip(server, ['addr', 'add', `${this.serverIp}/24`, 'dev', this.dev('s0')]);
    for (const [ns, dev] of [[server, 'lo'], [server, this.dev('s0')], [router, this.dev('r1')]] as const) {
      await this.ip(ns, ['link', 'set', dev, 'up']);
    }
    await this.ip(server, ['route', 'add', 'default', 'via', this.routerServerSideIp]);
  }

  /** Remove the server namespace (its veth pair goes with it). */
  async removeServerHost(): Promise<void> {
    await this.killChildrenIn('server');
    await run('ip', ['netns', 'del', this.ns.server]).catch(() => undefined);
    // The kernel dismantles a deleted namespace asynchronously: the router's end of the veth
    // pair can outlive `ip netns del` for a while, and re-creating the host would then fail with
    // "File exists". Remove it ourselves (a no-op error once the kernel got there first).
    await this.ip(this.ns.router, ['link', 'del', this.dev('r1')]).catch(() => undefined);
  }

  ip(ns: string, args: string[]) {
    return run('ip', ['-n', ns, ...args]);
  }

  exec(host: Host, command: string, args: string[]) {
    return run('ip', ['netns', 'exec', this.ns[host], command, ...args]);
  }

  sysctl(host: Host, key: string, value: number | string) {
    return this.exec(host, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  async readSysctl(host: Host, key: string): Promise<string> {
    const { stdout } = await this.exec(host, 'sysctl', ['-n', key]);
    return stdout.trim();
  }

  /** Load an nftables ruleset (text) into a namespace. */
  nft(host: Host, ruleset: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', this.ns[host], 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft in ${host} failed: ${stderr.trim()}`))));
      child.stdin.end(ruleset);
    });
  }

  /** Start a process inside a namespace; it is killed when the topology is destroyed. */
  spawnIn(host: Host, command: string, args: string[]): ChildProcess {
    // `ip netns exec` execs the command, so the child's pid is the command's own pid
    // (SIGSTOP / SIGKILL reach it directly).
    const child = spawn('ip', ['netns', 'exec', this.ns[host], command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  private async killChildrenIn(host: Host): Promise<void> {
    try {
      const { stdout } = await run('ip', ['netns', 'pids', this.ns[host]]);
      for (const pid of stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    } catch {
      /* namespace already gone */
    }
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) child.kill('SIGKILL');
    for (const host of ['client', 'router', 'server'] as const) {
      await this.killChildrenIn(host);
      await run('ip', ['netns', 'del', this.ns[host]]).catch(() => undefined);
    }
    live.delete(this);
  }

  /** Exit-time cleanup (no async work possible in 'exit'). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) child.kill('SIGKILL');
    for (const host of ['client', 'router', 'server'] as const) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', this.ns[host]]).toString().split(/\s+/).filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', this.ns[host]], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    live.delete(this);
  }
}

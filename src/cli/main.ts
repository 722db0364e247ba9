#!/usr/bin/env node
/** The `lifeline` command: argv → commands. Nothing the library needs lives here. */
import { Command, Option } from 'commander';
import { collectOrigins, parseDuration, parseMs, parsePort, parseServerList, parseWsPath } from './address.js';
import { runServer, serverFlagError } from './server-command.js';
import { clientFlagError, runClient } from './client-command.js';
import { runDemo } from './demo-command.js';
import { runLabAgentCommand, runLabCommand } from './lab-command.js';
import { runAdaptiveLabCommand, runLabAdaptiveAgentCommand } from './lab-adaptive-command.js';
import { runDetectorsCommand } from './detectors-command.js';
import { runBenchCommand } from './bench-command.js';
import { runTokenCommand } from './token-command.js';
import { SYSTEM_IDS } from '../bench/types.js';

const program = new Command();
program
  .name('lifeline')
  .description('Long-lived connections that know within seconds whether the other side is dead, unavailable or healthy.')
  .showHelpAfterError();

const logOption = () => new Option('--log <format>', 'log format on stderr').choices(['auto', 'json', 'pretty']).default('auto');

program
  .command('server')
  .description('run a lifeline server: prints client messages, sends stdin lines to every session')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'TCP port (0 = any free port)', parsePort, 7400)
  .option('--interval <ms>', 'default heartbeat interval, ms', parseMs('--interval'), 5000)
  .option('--timeout <ms>', 'default heartbeat timeout, ms', parseMs('--timeout'), 15000)
  .option('--echo', 'echo every message back to its sender', false)
  .addOption(new Option('--heartbeat-leader <side>', 'who sends the heartbeat PINGs (auto: the server on WebSocket, the client on TCP / TLS; spec 0010)').choices(['auto', 'client', 'server']).default('auto'))
  .option('--tls-cert <file>', 'PEM certificate (chain): the main listener is TLS (with --tls-key)')
  .option('--tls-key <file>', 'PEM private key of --tls-cert')
  .option('--ws-port <port>', 'also listen for WebSocket clients on this port, same --host (wss with --tls-cert)', parsePort)
  .option('--ws-path <path>', 'WebSocket request path (default /)', parseWsPath)
  .option('--udp-port <port>', 'also listen for UDP clients (udp://) on this port, same --host (spec 0012)', parsePort)
  .option('--udp-secret-file <file>', 'UDP cookie / reset secret (≥ 16 bytes): keep it across restarts so clients learn of a restart in one round trip')
  .option('--ws-origin <origin>', 'browser origin the WebSocket listener accepts, e.g. https://app.example (repeatable or comma list; default any)', collectOrigins)
  .option('--token-secret-file <file>', 'accept only clients whose token was made by `lifeline token` with this secret (spec 0013)')
  .option('--redis <url>', 'share presence with other nodes through this Redis, e.g. redis://127.0.0.1:6379 (spec 0014)')
  .option('--node-id <id>', "this node's name in the shared presence store (with --redis; default random per process)")
  .option('--metrics-port <port>', 'serve Prometheus metrics on http://HOST:PORT/metrics, same --host (spec 0015)', parsePort)
  .option('--dashboard <port>', 'serve the live dashboard on http://127.0.0.1:PORT/ (also /metrics without --metrics-port; spec 0017)', parsePort)
  .option('--dashboard-host <host>', 'address the dashboard binds (default 127.0.0.1: it shows peer addresses)')
  .option('--dashboard-results <dir>', "directory of lab / bench --json files the dashboard's results page may open")
  .addOption(logOption())
  .action(async (opts, command: Command) => {
    const problem = serverFlagError(opts);
    if (problem) command.error(problem);
    await runServer(opts);
  });

program
  .command('client')
  .description('connect to a lifeline server: stdin lines become messages, received messages are printed')
  .requiredOption('--connect <address,...>', 'server address(es): host:port, tls://host:port, ws://host:port/path, wss://…; several = failover in rotation', parseServerList)
  .option('--ca <file>', 'PEM CA certificate(s) to trust for tls:// and wss:// servers (default: Node\'s CA store)')
  .addOption(new Option('--insecure', 'do not verify tls:// and wss:// server certificates (testing only)').default(false).conflicts('ca'))
  .option('--reconnect', 'reconnect (and resume the session) after a loss, also with one address', false)
  .option('--interval <ms>', 'heartbeat interval to propose, ms', parseMs('--interval'))
  .option('--timeout <ms>', 'heartbeat timeout to propose, ms', parseMs('--timeout'))
  .option('--adaptive', "learn the path's NAT idle timeout and heartbeat just below it (not with --interval; state in ~/.local/state/lifeline/nat.json)", false)
  .option('--verbose', 'log every heartbeat PONG (RTT, server status)', false)
  .option('--stay', 'stay connected when stdin ends', false)
  .option('--token <token>', 'credential sent in HELLO on every connect (e.g. from `lifeline token`)')
  .option('--no-status', 'no live status line (state, RTT, last heard, server status, reconnects, messages) on stderr')
  .option('--status-every <duration>', 'not on a terminal: a status log line on each state change and at least this often (e.g. 30s)', parseDuration('--status-every'))
  .addOption(logOption())
  .action((opts, command: Command) => {
    const problem = clientFlagError(opts);
    if (problem) command.error(problem);
    runClient(opts);
  });

program
  .command('token')
  .description('print a signed token for --id, valid for --ttl: servers started with --token-secret-file on the same secret accept it')
  .requiredOption('--secret-file <file>', 'the signing secret (at least 16 bytes; trailing newline ignored), e.g. made with: openssl rand -hex 32 > FILE')
  .requiredOption('--id <id>', 'who the token names (the session identity on the server)')
  .option('--ttl <duration>', 'how long the token is valid: 90s, 15m, 1h, 7d (a bare number is ms)', parseDuration('--ttl'), 3_600_000)
  .action((opts) => {
    runTokenCommand(opts);
  });

program
  .command('demo')
  .description('server + client processes: freeze one, kill one, and show what the server detects')
  .option('--interval <ms>', 'heartbeat interval, ms', parseMs('--interval'), 500)
  .option('--timeout <ms>', 'heartbeat timeout, ms', parseMs('--timeout'), 1500)
  .action(async (opts) => {
    process.exitCode = await runDemo(opts);
  });

program
  .command('lab')
  .description('the fault lab: real kernel faults × detection mechanisms → time to detect')
  .option('--quick', 'one repetition of every fault (default)', true)
  .option('--full', 'every fault with repetitions, p50 / p99', false)
  .option('--repetitions <n>', 'repetitions per fault', (v) => Number.parseInt(v, 10))
  .option('--faults <ids>', 'comma-separated fault ids (default: all)')
  .option('--mechanisms <ids>', 'comma-separated mechanism ids (default: all)')
  .option('--json <file>', 'write every raw measurement as JSON')
  .option('--html <file>', 'write a chart as a self-contained HTML page')
  .option('--loopback', 'do not use network namespaces (what a non-root user gets)', false)
  .option('--detectors', 'instead: simulate fixed-timeout vs phi-accrual detectors (jitter, GC pauses, loss)', false)
  .option('--seed <n>', 'with --detectors: PRNG seed', (v) => Number.parseInt(v, 10))
  .option('--hours <n>', 'with --detectors: simulated hours of a live peer per row', Number)
  .option('--trials <n>', 'with --detectors: peer deaths simulated per row', (v) => Number.parseInt(v, 10))
  .option('--adaptive', 'instead: fixed vs adaptive heartbeat through the NAT (4 s = 60 s scaled 15×): PINGs/hour, drops, learned interval', false)
  .option('--adaptive-seconds <n>', 'with --adaptive: real seconds to run (default 240 = one hour at scale)', Number)
  .action(async (opts) => {
    if (opts.detectors) {
      runDetectorsCommand({ seed: opts.seed, hours: opts.hours, trials: opts.trials, json: opts.json });
      return;
    }
    if (opts.adaptive) {
      process.exitCode = await runAdaptiveLabCommand({ adaptiveSeconds: opts.adaptiveSeconds, json: opts.json, loopback: opts.loopback });
      return;
    }
    process.exitCode = await runLabCommand(opts);
  });

program
  .command('bench')
  .description('benchmark lifeline against raw net, ws, socket.io, MQTT and NATS: memory, CPU, loop delay, bytes per heartbeat')
  .option('--connections <n>', 'connections per system', (v) => Number.parseInt(v, 10), 10_000)
  .option('--interval <ms>', 'heartbeat interval, ms', parseMs('--interval'), 1000)
  .option('--duration <ms>', 'measured window, ms', parseMs('--duration'), 10_000)
  .option('--systems <ids>', `comma-separated: ${SYSTEM_IDS.join(',')} (default: all)`)
  .option('--rounds <n>', 'run the system list n times, back to back, and report the median ratios to raw', (v) => Number.parseInt(v, 10), 1)
  .option('--freeze', "also SIGSTOP a generator holding 10% of the connections (--native: the first 10% of the C generators) and time the server's detection", false)
  .option('--scale', 'cluster servers behind one port, more generators and source addresses (up to 200,000)', false)
  .option('--lifeline-socket-tuning <mode>', "lifeline's keepalive / TCP_USER_TIMEOUT on accepted sockets: default or off", 'default')
  .option('--native', 'scale mode with the C load generator (built with gcc) and independent server processes: raw, lifeline and lifeline-sl, up to 1,000,000', false)
  .option('--metrics', 'also run lifeline with lifelineMetrics() attached and scraped every second, right after lifeline: the metrics on/off ratio', false)
  .option('--json <file>', 'write every raw measurement as JSON (- = on stdout, the report then on stderr)')
  .action(async (opts) => {
    process.exitCode = await runBenchCommand(opts);
  });

program
  .command('lab-agent', { hidden: true })
  .requiredOption('--role <role>')
  .requiredOption('--host <host>')
  .requiredOption('--ports <ports>')
  .requiredOption('--mechanisms <ids>')
  .action(async (opts) => {
    await runLabAgentCommand(opts);
  });

program
  .command('lab-adaptive-agent', { hidden: true })
  .requiredOption('--role <role>')
  .requiredOption('--host <host>')
  .requiredOption('--ports <ports>')
  .requiredOption('--rows <ids>')
  .action(async (opts) => {
    await runLabAdaptiveAgentCommand(opts);
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`lifeline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
